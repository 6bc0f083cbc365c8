"""The GUI's scoring run, as a generator that :class:`~xrayviewer.gui.background.Background` runs.

Each batch is handed to the GUI thread as soon as it is scored (one signal per batch, not per film); the
window coalesces what arrives within :func:`emit_interval` into one re-sort of the thumbnail grid.

With a :class:`~xrayviewer.inference.score_cache.ScoreCache`, films are hashed first and the scores the cache
holds for this model and threshold come back at once (in bundles of :data:`CACHE_CHUNK`); only the rest is
decoded and scored, and their scores are added to the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xrayviewer.gui.background import background_threads
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.score_cache import ScoreCache, file_sha256
from xrayviewer.inference.scoring import FilmResult, score_batches
from xrayviewer.scope import ScopeGate

EMIT_INTERVAL_S = 0.1
CACHE_CHUNK = 256  # films hashed and looked up per cache bundle


def emit_interval(total: int) -> float:
    """Seconds between re-sorts of the grid: every one re-sorts and re-lays-out the whole grid (O(films)),
    so big folders get fewer, larger updates (0.1 s up to 2,000 films, at most 0.5 s)."""
    return min(0.5, max(EMIT_INTERVAL_S, EMIT_INTERVAL_S * total / 2000))


@dataclass(frozen=True)
class Bundle:
    results: list[FilmResult]
    done: int
    total: int
    rate: float  # films per second so far
    cached: int = 0  # how many of these results came from the score cache


def scoring_bundles(paths: list[Path], engine: Engine, *, batch_size: int = 8,
                    decoder: Callable[[Path, int], Any] | None = None,
                    cancel: threading.Event | None = None, gate: ScopeGate | None = None,
                    cache: ScoreCache | None = None, cache_key: str = "") -> Iterator[Bundle]:
    """Score ``paths`` (keeping CAMs for the heat map), yielding each batch's results with the progress.

    ``cancel`` stops scoring after the batch in flight. An engine failure raises (the GUI shows it). With a
    scope ``gate``, out-of-scope films come back refused (no call, no CAM) with the reason.
    """
    paths = list(paths)
    total = len(paths)
    done = 0
    start = time.monotonic()
    kwargs: dict[str, Any] = {"batch_size": batch_size, "keep_cam": True, "cancel": cancel,
                              "workers": background_threads(4), "gate": gate}
    if decoder is not None:
        kwargs["decoder"] = decoder
    threshold = float(getattr(engine, "threshold", engine.card.threshold))
    if cache is not None and cache.usable:
        todo: list[Path] = []
        hasher = ThreadPoolExecutor(max_workers=background_threads(4), thread_name_prefix="hash")
        try:
            yield from _cached(paths, cache, cache_key, threshold, todo, hasher, cancel, start, total)
        finally:
            hasher.shutdown(wait=True, cancel_futures=True)
        if cancel is not None and cancel.is_set():
            return
        done = total - len(todo)
        paths = todo
    try:
        for results in score_batches(paths, engine, **kwargs):
            if cache is not None:
                cache.put_many(results, cache_key)
            done += len(results)
            yield Bundle(results, done, total, done / max(time.monotonic() - start, 1e-6))
    except Exception as exc:  # onnxruntime failures etc.: the message the reviewer sees
        raise RuntimeError(f"scoring stopped: {exc}") from exc


def _sha_or_none(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""  # scored later, where the error is reported properly


def _cached(paths: list[Path], cache: ScoreCache, cache_key: str, threshold: float, todo: list[Path],
            hasher: ThreadPoolExecutor, cancel: threading.Event | None, start: float,
            total: int) -> Iterator[Bundle]:
    """Bundles of the scores the cache holds (files hashed side by side); the rest is appended to ``todo``."""
    done = 0
    for i in range(0, total, CACHE_CHUNK):
        if cancel is not None and cancel.is_set():
            return
        chunk = paths[i:i + CACHE_CHUNK]
        shas = {p: sha for p, sha in zip(chunk, hasher.map(_sha_or_none, chunk), strict=True) if sha}
        found = cache.get_many(list(shas.values()), cache_key, threshold)
        hits = [found[shas[p]].to_result(p) for p in chunk if p in shas and shas[p] in found]
        todo += [p for p in chunk if not (p in shas and shas[p] in found)]
        if hits:
            done += len(hits)
            yield Bundle(hits, done, total, done / max(time.monotonic() - start, 1e-6), cached=len(hits))
