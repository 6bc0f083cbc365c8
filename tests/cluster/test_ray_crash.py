"""A film that kills the process scoring it (a native decoder crash) on the Ray engine: the job still ends,
every other film gets its normal row and the culprit an error row saying what happened.

The Ray run is a subprocess with a timeout: before, Ray Data restarted the actor and retried the batch
forever, and the job stalled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_score_resume import assert_same_rows, read_rows
from xrayviewer.cli import main
from xrayviewer.cluster.ray_engine import DIED, LOOPBACK_ONLY
from xrayviewer.inference import batch
from xrayviewer.paths import samples_dir

os.environ.setdefault(LOOPBACK_ONLY, "0")  # before Ray is imported (here, or by the next module's fixture)
pytest.importorskip("ray", reason="the cluster extra (installed with the test extra) brings Ray")

REPO = Path(__file__).resolve().parents[2]


def test_a_film_that_kills_its_actor_becomes_an_error_row_and_the_job_ends(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    films = sorted(samples_dir().glob("*.jpeg"))
    for p in films:
        shutil.copy(p, study / p.name)
    crash = films[8].name  # 2 actors, blocks of 4: good films are lost with it at first, then scored again
    local = tmp_path / "local.csv"
    assert main(["score", str(study), "--csv", str(local), "-q"]) == 0  # the local engine: no crash

    out = tmp_path / "ray.csv"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    run = subprocess.run([sys.executable, "-m", "tests.cluster.crashing", crash, str(study), "--csv", str(out),
                          "--engine", "ray", "--workers", "2", "--batch-size", "4"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)

    assert run.returncode == 3, run.stderr  # some films failed; the job finished
    assert f"error: {crash}: {DIED}" in run.stderr
    assert "scored 16 films: 15 ok, 1 error" in run.stderr and "Traceback" not in run.stderr
    rows = {r[0]: r for r in read_rows(out)}  # a valid CSV, one row per film
    want = {r[0]: r for r in read_rows(local)}
    assert rows.keys() == want.keys()
    died = rows.pop(crash)
    status, error = batch.COLUMNS.index("status"), batch.COLUMNS.index("error")
    assert (died[status], died[error]) == ("error", DIED)
    del want[crash]
    assert_same_rows(sorted(rows.values()), sorted(want.values()))
