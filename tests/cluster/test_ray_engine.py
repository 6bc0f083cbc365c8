"""`xrayviewer score --engine ray` on a local Ray with 2 CPUs: the same rows as the local engine, for the
sample films and the hostile-file corpus; heat maps and Parquet; an interrupted run resumed on Ray.

One Ray session for the module (starting Ray is the slow part); the bundled model, so the real network
and its scope gate run inside the actors.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_score_resume import assert_same_rows, read_rows
from tests.test_hardening import _hostile_corpus
from xrayviewer.cli import main
from xrayviewer.cluster.ray_engine import LOOPBACK_ONLY, ClusterError, RayScorer, ScoreActor, engine_state
from xrayviewer.inference import batch
from xrayviewer.paths import samples_dir

os.environ.setdefault(LOOPBACK_ONLY, "0")  # before Ray is imported: a Ray on 127.0.0.1 only
ray = pytest.importorskip("ray", reason="the cluster extra (installed with the test extra) brings Ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    assert "node:127.0.0.1" in ray.cluster_resources()
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The 16 samples plus the hostile corpus (empty, truncated, random, bombs, corrupt DICOMs, a folder, a
    FIFO...), with the error fragment each bad file must give."""
    root = tmp_path_factory.mktemp("ray") / "study"
    (root / "films").mkdir(parents=True)
    for p in sorted(samples_dir().glob("*.jpeg")):
        shutil.copy(p, root / "films" / p.name)
    return root, _hostile_corpus(root)


def score(*argv: object) -> int:
    return main(["score", *map(str, argv)])


@pytest.fixture(scope="module")
def local(study: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The local engine's CSV and heat maps for the study."""
    out = tmp_path_factory.mktemp("local")
    assert score(study[0], "--csv", out / "scores.csv", "--heatmaps", out / "heat", "-q") == 3
    return out / "scores.csv", out / "heat"


def test_ray_gives_the_local_engines_rows(study: tuple[Path, dict[str, str]], local: tuple[Path, Path],
                                          tmp_path: Path, capsys) -> None:
    root, bad = study
    out, heat, pq_out = tmp_path / "scores.csv", tmp_path / "heat", tmp_path / "scores.parquet"
    capsys.readouterr()
    assert score(root, "--csv", out, "--engine", "ray", "--batch-size", 4, "--heatmaps", heat,
                 "--parquet", pq_out) == 3
    err = capsys.readouterr().err
    assert "on Ray, 2 actors x 1 CPU (provider cpu)" in err and "Traceback" not in err

    rows, want = read_rows(out), read_rows(local[0])
    assert_same_rows(rows, want)  # errors included, row for row, in the same order
    status = batch.COLUMNS.index("status")
    errors = {r[0]: r for r in rows if r[status] == "error"}
    assert set(bad) <= set(errors)
    assert sum(r[status] == "ok" for r in rows) == 16
    for name, fragment in bad.items():
        assert fragment.lower() in errors[name][batch.COLUMNS.index("error")].lower(), name

    made = sorted(p.relative_to(heat) for p in heat.rglob("*.png"))
    assert made and made == sorted(p.relative_to(local[1]) for p in local[1].rglob("*.png"))

    import pyarrow.parquet as pq

    table = pq.read_table(pq_out)
    assert tuple(table.column_names) == batch.COLUMNS
    assert [[str(v) for v in r.values()] for r in table.to_pylist()] == rows


def test_an_interrupted_ray_run_resumes_to_the_same_csv(study: tuple[Path, dict[str, str]],
                                                        local: tuple[Path, Path], tmp_path: Path,
                                                        monkeypatch, capsys) -> None:
    write = batch.RowWriter.write

    def write_then_interrupt(self: batch.RowWriter, rows: object) -> None:
        write(self, rows)  # type: ignore[arg-type]
        if self.rows >= 8:
            raise KeyboardInterrupt

    out = tmp_path / "scores.csv"
    with monkeypatch.context() as m:
        m.setattr(batch.RowWriter, "write", write_then_interrupt)
        assert score(study[0], "--csv", out, "--engine", "ray", "--batch-size", 4, "--resume", "-q") == 130
    first = read_rows(out)  # valid, with the rows so far
    assert 8 <= len(first) < len(read_rows(local[0]))

    capsys.readouterr()
    assert score(study[0], "--csv", out, "--engine", "ray", "--batch-size", 4, "--resume") == 3
    assert f"kept {len(first)} rows, dropped 0" in capsys.readouterr().err
    assert_same_rows(read_rows(out), read_rows(local[0]))


def test_each_actor_applies_the_drivers_threshold_and_scope_gate(study: tuple[Path, dict[str, str]],
                                                                 tmp_path: Path) -> None:
    """A site threshold and the scope gate set on the driver reach the actor's own onnxruntime session."""
    from PIL import Image

    from xrayviewer.inference.engine import Engine
    from xrayviewer.inference.scoring import score_films
    from xrayviewer.paths import default_model_path
    from xrayviewer.scope import OUT_OF_SCOPE, ScopeGate

    blank = tmp_path / "blank.png"  # read fine, but no film: the gate must refuse it
    Image.new("L", (400, 400), 128).save(blank)
    films = [*sorted((study[0] / "films").glob("*.jpeg"))[:3], blank]
    engine = Engine(default_model_path(), "cpu", threads=1)
    engine.threshold = 0.2  # e.g. an accepted site threshold
    gate = ScopeGate.for_model(engine.card)

    actor = ScoreActor([ray.put(engine.path.read_bytes())], engine_state(engine), "cpu", 1, False, {"gate": gate})
    assert actor.engine.threshold == 0.2 and actor.engine.card == engine.card
    assert actor.engine.session is not engine.session
    out = actor({"path": np.array([os.fsencode(p) for p in films], dtype=object)})
    got = [pickle.loads(b) for b in out["result"]]
    want = list(score_films(films, engine, gate=gate))
    assert want[-1].prediction == OUT_OF_SCOPE
    for g, w in zip(got, want, strict=True):
        assert (g.path, g.status, g.prediction, g.threshold, g.scope, g.sha256) == \
            (w.path, w.status, w.prediction, 0.2, w.scope, w.sha256)
        assert g.probability == pytest.approx(w.probability, abs=1e-5, nan_ok=True)


def test_an_actor_that_raises_fails_the_job_instead_of_skipping_films(study: tuple[Path, dict[str, str]]) -> None:
    """Dropped blocks are taken for dead actors (their films are scored again, alone, then skipped): an
    exception in an actor must not be dropped that way, but fail the job with its message."""
    from xrayviewer.inference.engine import Engine
    from xrayviewer.paths import default_model_path

    films = sorted((study[0] / "films").glob("*.jpeg"))[:4]
    engine = Engine(default_model_path(), "cpu", threads=1)
    scorer = RayScorer(engine.path, "cpu")
    with pytest.raises(ClusterError, match=r"the Ray job failed after 0 films: TypeError: .*'no_such_option'"):
        list(scorer(films, engine, batch_size=2, workers=2, keep_cam=False, cancel=None, no_such_option=1))
