"""Background work: the scoring run (a QThread) and one-off tasks (decode one film, feature maps).

The GUI thread never decodes or runs the model. Results cross threads only via queued signals, and the
scoring thread hands them over in small bundles (at most every ~100 ms) so a 1,000-film run does not flood
the event loop with one signal per film.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from xrayviewer.inference.engine import Engine
from xrayviewer.inference.scoring import FilmResult, score_films

log = logging.getLogger(__name__)

EMIT_INTERVAL_S = 0.1


def background_threads(at_most: int) -> int:
    """Threads for background decoding: one core is left for the GUI thread, which must keep painting."""
    return max(1, min(at_most, (os.cpu_count() or 2) - 1))


def emit_interval(total: int) -> float:
    """Seconds between result bundles: every bundle re-sorts and re-lays-out the whole grid (O(films)),
    so big folders get fewer, larger bundles (0.1 s up to 2,000 films, at most 0.5 s)."""
    return min(0.5, max(EMIT_INTERVAL_S, EMIT_INTERVAL_S * total / 2000))


class ScoringWorker(QThread):
    """Score `paths` with `engine`, streaming FilmResults (with CAMs) back to the GUI thread.

    `cancel()` sets an Event that score_films checks between batches; once it is set this thread emits
    nothing more but `finished_run(True)`, so the GUI never sees a result after it showed "cancelled".
    """

    results = Signal(list)  # list[FilmResult]
    progress = Signal(int, int, float)  # done, total, films per second
    finished_run = Signal(bool)  # cancelled?
    failed = Signal(str)

    def __init__(self, paths: list[Path], engine: Engine, *, batch_size: int = 8,
                 decoder: Callable[[Path, int], Any] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = list(paths)
        self.engine = engine
        self.batch_size = batch_size
        self.decoder = decoder
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        total = len(self.paths)
        done = 0
        start = last = time.monotonic()
        interval = emit_interval(total)
        bundle: list[FilmResult] = []
        kwargs: dict[str, Any] = {"batch_size": self.batch_size, "keep_cam": True, "cancel": self._cancel,
                                  "workers": background_threads(4)}
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        try:
            for result in score_films(self.paths, self.engine, **kwargs):
                if self._cancel.is_set():
                    break
                bundle.append(result)
                done += 1
                now = time.monotonic()
                if now - last >= interval or done == total:
                    self.results.emit(bundle)
                    self.progress.emit(done, total, done / max(now - start, 1e-6))
                    bundle, last = [], now
            if bundle and not self._cancel.is_set():
                self.results.emit(bundle)
                self.progress.emit(done, total, done / max(time.monotonic() - start, 1e-6))
        except Exception as exc:  # onnxruntime failures etc.: report, never crash the app
            log.exception("scoring failed")
            self.failed.emit(f"scoring stopped: {exc}")
        self.finished_run.emit(self._cancel.is_set())


class _TaskSignals(QObject):
    done = Signal(object)
    error = Signal(str)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _TaskSignals) -> None:
        super().__init__()
        self.fn = fn
        self.signals = signals

    def run(self) -> None:
        try:
            value = self.fn()
        except Exception as exc:
            self.signals.error.emit(str(exc) or type(exc).__name__)
            return
        self.signals.done.emit(value)


class TaskRunner(QObject):
    """Run a function on a small pool and get its result (or error text) back on the GUI thread."""

    def __init__(self, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._live: set[_TaskSignals] = set()

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[str], None]) -> None:
        signals = _TaskSignals()  # created here, so it lives in the GUI thread: delivery is queued
        self._live.add(signals)

        def finish_ok(value: Any) -> None:
            self._live.discard(signals)
            on_done(value)

        def finish_err(message: str) -> None:
            self._live.discard(signals)
            on_error(message)

        signals.done.connect(finish_ok)
        signals.error.connect(finish_err)
        self.pool.start(_Task(fn, signals))

    def busy(self) -> bool:
        return bool(self._live)

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)
