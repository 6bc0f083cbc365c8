"""Scoring beyond one machine (``xrayviewer score --engine ray``), installed with the ``cluster`` extra.

- ``ray_engine``: the Ray engine, a batch scorer for :func:`xrayviewer.inference.batch.score_rows` that runs
  the core's own ``score_batches`` inside a Ray Data actor pool (one onnxruntime session per actor), and
  the content-hash check of ``--resume`` spread over the cluster.
- ``parquet``: the finished score CSV as Parquet (``--parquet``), same columns and cells.

Ray and pyarrow are imported only when these are used: the desktop app and the core never need them
(an import-linter contract in ``pyproject.toml`` keeps it so).
"""
