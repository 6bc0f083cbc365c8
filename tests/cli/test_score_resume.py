"""`xrayviewer score --resume` (local engine): a killed, interrupted or torn run picks up where it stopped
and ends with the CSV of one uninterrupted run; `--parquet` holds the same rows.

The kill is a real SIGKILL of a separate process, sent by the process itself right after a chosen batch
was written, so the point of death is deterministic without sleeps.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xrayviewer.cli import main
from xrayviewer.inference import batch
from xrayviewer.inference.batch import COLUMNS
from xrayviewer.paths import samples_dir

REPO = Path(__file__).resolve().parents[2]
PROB = COLUMNS.index("pneumonia_probability")
BATCH = ("--batch-size", "2", "--workers", "1")


def read_rows(path: Path) -> list[list[str]]:
    """All rows after the header, checking the header and that every row is whole (a valid CSV)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, strict=True)
        assert tuple(next(reader)) == COLUMNS
        rows = list(reader)
    assert all(len(r) == len(COLUMNS) for r in rows), "a torn or malformed row"
    return rows


def assert_same_rows(got: list[list[str]], want: list[list[str]]) -> None:
    """Row for row the same cells; probabilities within 1e-5 (batches of another make-up)."""
    assert [r[0] for r in got] == [r[0] for r in want]
    for g, w in zip(got, want, strict=True):
        if w[PROB]:
            assert math.isclose(float(g[PROB]), float(w[PROB]), abs_tol=1e-5), (g, w)
        assert g[:PROB] + g[PROB + 1:] == w[:PROB] + w[PROB + 1:]


def score(*argv: object) -> int:
    return main(["score", *map(str, argv)])


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """The 16 samples in two folders, plus one unreadable file (an error row must survive a resume)."""
    root = tmp_path / "study"
    for p in sorted(samples_dir().glob("*.jpeg")):
        sub = root / ("normal" if p.name.startswith("NORMAL") else "pneumonia")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, sub / p.name)
    (root / "normal" / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 50)
    return root


@pytest.fixture
def reference(study: Path, tmp_path: Path, tiny_model: Path) -> list[list[str]]:
    """One uninterrupted run."""
    out = tmp_path / "reference.csv"
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "-q") == 3
    rows = read_rows(out)
    assert len(rows) == 17
    return rows


KILLER = textwrap.dedent('''
    import os, signal, sys
    from xrayviewer.inference import batch
    after = int(os.environ["KILL_AFTER_BATCH"])
    write = batch.RowWriter.write
    def write_then_die(self, rows):
        write(self, rows)
        if self.rows >= 2 * after:  # batches of 2 rows
            os.kill(os.getpid(), signal.SIGKILL)
    batch.RowWriter.write = write_then_die
    from xrayviewer.cli import main
    sys.exit(main(["score", *sys.argv[1:]]))
''')


def test_kill_9_leaves_a_valid_csv_and_resume_finishes_it(study: Path, tmp_path: Path, tiny_model: Path,
                                                         reference: list[list[str]], capsys) -> None:
    out = tmp_path / "scores.csv"
    env = {**os.environ, "KILL_AFTER_BATCH": "3", "XRAYVIEWER_LOG_DIR": str(tmp_path / "log")}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(study), "--csv", str(out), "--model", str(tiny_model),
                           *BATCH, "--resume", "-q"], capture_output=True, text=True, timeout=240, env=env,
                          cwd=REPO)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed = read_rows(out)  # valid: header and whole rows only
    assert_same_rows(killed, reference[:6])

    capsys.readouterr()
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "--resume") == 3  # the broken film
    assert "kept 6 rows, dropped 0" in capsys.readouterr().err
    assert_same_rows(read_rows(out), reference)
    assert score(study, "--csv", out, "--model", tiny_model, "--resume", "-q") == 3  # nothing left to do
    assert_same_rows(read_rows(out), reference)


@pytest.mark.parametrize("cut", [0.4, 0.55, 0.97])
def test_a_torn_last_line_is_dropped_and_scored_again(study: Path, tmp_path: Path, tiny_model: Path,
                                                      reference: list[list[str]], cut: float) -> None:
    """A kill inside the one write of a batch can tear the last line; --resume repairs the file."""
    out = tmp_path / "scores.csv"
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "-q") == 3
    data = out.read_bytes()
    torn = data[: int(len(data) * cut)]
    assert not torn.endswith(b"\n")
    out.write_bytes(torn)
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "--resume", "-q") == 3
    assert_same_rows(read_rows(out), reference)


def test_ctrl_c_keeps_a_partial_that_resume_takes_over(study: Path, tmp_path: Path, tiny_model: Path,
                                                       reference: list[list[str]], monkeypatch, capsys) -> None:
    write = batch.RowWriter.write

    def write_then_interrupt(self: batch.RowWriter, rows: object) -> None:
        write(self, rows)  # type: ignore[arg-type]
        if self.rows >= 4:
            raise KeyboardInterrupt

    out = tmp_path / "scores.csv"
    with monkeypatch.context() as m:
        m.setattr(batch.RowWriter, "write", write_then_interrupt)
        assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "-q") == 130
    partial = out.with_name("scores.csv.partial")
    assert not out.exists() and partial.is_file()
    assert "--resume goes on from them" in capsys.readouterr().err
    assert_same_rows(read_rows(partial), reference[:4])

    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "--resume") == 3
    err = capsys.readouterr().err
    assert "took over the rows of the interrupted run in scores.csv.partial" in err and "kept 4 rows" in err
    assert not partial.exists()
    assert_same_rows(read_rows(out), reference)


def test_changed_and_deleted_films_are_scored_again(study: Path, tmp_path: Path, tiny_model: Path,
                                                    reference: list[list[str]], capsys) -> None:
    out = tmp_path / "scores.csv"
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "-q") == 3
    changed, deleted, donor = (reference[i][0] for i in (2, 5, 12))
    shutil.copy(study / donor, study / changed)  # same path, other content
    (study / deleted).unlink()
    capsys.readouterr()
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "--resume") == 3
    assert "kept 15 rows, dropped 2" in capsys.readouterr().err
    rows = read_rows(out)
    by_path = {r[0]: r for r in reference}
    # Unchanged rows stay in place; the changed film is scored again (and now looks like its donor).
    assert [r[0] for r in rows[:-1]] == [r[0] for r in reference if r[0] not in (changed, deleted)]
    assert rows[-1][0] == changed
    assert rows[-1][COLUMNS.index("sha256")] == by_path[donor][COLUMNS.index("sha256")]
    assert rows[-1][PROB] == by_path[donor][PROB]


def test_rows_of_another_model_are_scored_again(study: Path, tmp_path: Path, tiny_model: Path,
                                                reference: list[list[str]]) -> None:
    from tests.helpers.tiny_model import build_tiny_model
    from xrayviewer.inference.card import ModelCard

    other = build_tiny_model(tmp_path / "other.onnx", card=ModelCard(
        id="other-tiny-model", input_size=64, threshold=0.5, threshold_rule="test"))
    out = tmp_path / "scores.csv"
    assert score(study, "--csv", out, "--model", other, *BATCH, "-q") == 3
    assert score(study, "--csv", out, "--model", tiny_model, *BATCH, "--resume", "-q") == 3
    assert_same_rows(read_rows(out), reference)


def test_a_csv_with_other_columns_is_refused_untouched(study: Path, tmp_path: Path, tiny_model: Path,
                                                       capsys) -> None:
    out = tmp_path / "scores.csv"
    out.write_text("path,probability\na.jpeg,0.5\n", encoding="utf-8")
    assert score(study, "--csv", out, "--model", tiny_model, "--resume", "-q") == 2
    err = capsys.readouterr().err
    assert "cannot resume from" in err and "columns" in err and "Traceback" not in err
    assert out.read_text(encoding="utf-8") == "path,probability\na.jpeg,0.5\n"


def test_parquet_holds_the_csv_rows(study: Path, tmp_path: Path, tiny_model: Path) -> None:
    import pyarrow.parquet as pq

    out, pq_out = tmp_path / "scores.csv", tmp_path / "scores.parquet"
    assert score(study, "--csv", out, "--model", tiny_model, "--parquet", pq_out, "-q") == 3
    table = pq.read_table(pq_out)
    assert tuple(table.column_names) == COLUMNS
    assert [[str(v) for v in row.values()] for row in table.to_pylist()] == read_rows(out)
