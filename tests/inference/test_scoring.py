"""Streaming scorer: input order kept, bad films become error rows, cancel stops early."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from xrayviewer.films import discover_films, load_film
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.inference.scoring import score_films


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Engine:
    return Engine(tiny_model, "cpu", threads=1)


@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_order_and_errors(engine: Engine, film_folder: Path, batch_size: int) -> None:
    paths = discover_films(film_folder)
    assert len(paths) == 5
    results = list(score_films(paths, engine, batch_size=batch_size, workers=2))
    assert [r.path for r in results] == paths
    by_name = {r.path.name: r for r in results}
    broken = by_name.pop("broken.jpeg")
    assert broken.status == "error" and not broken.ok
    assert broken.error
    assert np.isnan(broken.probability) and broken.prediction == ""
    assert broken.sha256 == hashlib.sha256((film_folder / "broken.jpeg").read_bytes()).hexdigest()
    for r in by_name.values():
        assert r.ok, r.error
        assert 0.0 <= r.probability <= 1.0
        assert r.prediction == engine.card.call(r.probability)
        assert r.threshold == engine.card.threshold
        assert r.sha256 == hashlib.sha256(r.path.read_bytes()).hexdigest()
        assert r.original_size is not None and min(r.original_size) > engine.input_size
        assert r.cam is None


def test_probabilities_match_a_direct_run(engine: Engine, sample_films: list[Path]) -> None:
    paths = sample_films[:4]
    results = list(score_films(paths, engine, batch_size=3, workers=2, keep_cam=True))
    direct = engine.run(np.stack([preprocess(load_film(p).pixels, engine.input_size) for p in paths]))
    np.testing.assert_allclose([r.probability for r in results], direct.probability, atol=0.02)
    for r in results:
        assert r.cam is not None and r.cam.shape == (8, 8)


def test_cancel_stops_early(engine: Engine, sample_films: list[Path]) -> None:
    paths = sample_films * 4  # 64 films
    cancel = threading.Event()
    seen = []
    for r in score_films(paths, engine, batch_size=2, workers=2, cancel=cancel):
        seen.append(r)
        cancel.set()
    assert 1 <= len(seen) <= 2  # the batch in flight finishes, nothing after it


def test_unexpected_decoder_failure_is_an_error_row(engine: Engine, sample_films: list[Path]) -> None:
    """A decoder bug on one odd file must not end a long batch run."""
    from xrayviewer.inference import scoring

    def flaky(path: Path, size: int):
        if path == sample_films[1]:
            raise RuntimeError("decoder bug")
        return scoring._decode(path, size)

    results = list(score_films(sample_films[:3], engine, batch_size=2, decoder=flaky))
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert "decoder bug" in results[1].error


def test_empty_input(engine: Engine) -> None:
    assert list(score_films([], engine)) == []


class _CountingEngine:
    """Wraps the tiny engine to see how many `run` calls overlap."""

    def __init__(self, engine: Engine, threads: int, rendezvous: threading.Barrier | None = None):
        self._engine = engine
        self.threads = threads
        self.card = engine.card
        self.input_size = engine.input_size
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0
        self._rendezvous = rendezvous

    def run(self, images):
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            if self._rendezvous is not None:
                self._rendezvous.wait()  # only passes if two runs are inside run() at once
            return self._engine.run(images)
        finally:
            with self._lock:
                self._now -= 1


def test_single_threaded_engine_runs_batches_side_by_side(engine: Engine, sample_films: list[Path]) -> None:
    counting = _CountingEngine(engine, threads=1, rendezvous=threading.Barrier(2, timeout=10))
    results = list(score_films(sample_films[:8], counting, batch_size=2, workers=2))
    assert [r.path for r in results] == sample_films[:8]
    assert counting.most == 2


def test_multi_threaded_engine_runs_one_batch_at_a_time(engine: Engine, sample_films: list[Path]) -> None:
    counting = _CountingEngine(engine, threads=2)
    results = list(score_films(sample_films[:8], counting, batch_size=2, workers=2))
    assert len(results) == 8 and all(r.ok for r in results)
    assert counting.most == 1


def test_small_jobs_are_split_across_workers(engine: Engine, sample_films: list[Path]) -> None:
    """16 films with batch 16 on 2 workers must not leave one core idle: two batches of 8."""
    counting = _CountingEngine(engine, threads=1, rendezvous=threading.Barrier(2, timeout=10))
    assert len(list(score_films(sample_films, counting, batch_size=16, workers=2))) == 16
    assert counting.most == 2
