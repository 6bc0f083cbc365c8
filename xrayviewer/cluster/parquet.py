"""``--parquet``: the finished score CSV as a Parquet file, for runs too large to read as text.

Made from the CSV once the run is complete (so a resumed run's Parquet holds every row, kept ones
included), streamed in record batches so memory stays flat for a million rows, and written atomically.
Same columns in the same order, every cell the CSV's text (an empty cell is an empty string, never
null): one contract in two formats. Cast on reading, e.g. ``pneumonia_probability`` to float.
"""

from __future__ import annotations

import csv
from pathlib import Path

from xrayviewer.common.files import AtomicFile

PYARROW_MISSING = "--parquet needs pyarrow: pip install 'xrayviewer[cluster]'"


def parquet_available() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def csv_to_parquet(csv_path: Path, parquet_path: Path) -> int:
    """Write ``parquet_path`` from the score CSV; returns the number of rows. Raises OSError, ImportError."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    with Path(csv_path).open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    strings = {name: pa.string() for name in header}
    reader = pcsv.open_csv(
        csv_path,
        read_options=pcsv.ReadOptions(block_size=8 << 20),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types=strings, strings_can_be_null=False,
                                            quoted_strings_can_be_null=False),
    )
    rows = 0
    with AtomicFile(parquet_path, "wb") as out:
        writer = pq.ParquetWriter(out.file, reader.schema, compression="zstd")
        try:
            for chunk in reader:
                writer.write_batch(chunk)
                rows += chunk.num_rows
        finally:
            writer.close()
    return rows
