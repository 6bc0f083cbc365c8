"""The one way the GUI runs work off its thread: :class:`Background` runs a function on its own thread pool
and hands what it returns (or yields, or raises) back to the GUI thread as signals of a :class:`Job`.

Used for folder discovery, the scoring run, thumbnails, full-resolution decodes and feature maps.

* A plain function's return value arrives as ``Job.returned``; a generator's values as ``Job.yielded``,
  one signal per value (the generator decides how much to bundle).
* ``Job.cancel()`` sets the ``threading.Event`` passed as ``cancel=`` to a function started with
  ``cancellable=True`` (the function checks it between steps), stops a generator at its next value, and
  guarantees the GUI sees nothing more from the job but ``finished``: values already queued are dropped
  on the GUI thread, so a view never shows a result after it showed "cancelled".
* ``finished`` always comes last, once, whatever happened.

Signals cross threads queued (each Job lives in the GUI thread), so slots run on the GUI thread.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)
T = TypeVar("T")


SCORING_NICENESS = 10  # how far scoring steps aside for the GUI thread (a Linux nice value)


def lower_this_thread(niceness: int) -> None:
    """Let this thread yield the CPU to the GUI thread: raise its nice value (Linux keeps one per thread, and
    threads it starts inherit it). On a 2-core machine a scoring run otherwise keeps the GUI thread waiting
    for a core for tens of milliseconds. Elsewhere, or if the system refuses, nothing changes."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError:
        log.debug("could not lower the priority of a background thread", exc_info=True)


def call_lowered(fn: Callable[[], T], niceness: int) -> T:
    """``fn()`` on a short-lived thread of lowered priority, waiting for it: the threads a library starts in
    ``fn`` (onnxruntime's pool, made with its session) inherit the lower priority."""
    with ThreadPoolExecutor(1, initializer=lower_this_thread, initargs=(niceness,)) as pool:
        return pool.submit(fn).result()  # fn's exception is raised here


def background_threads(at_most: int) -> int:
    """Threads for background decoding: one core is left for the GUI thread, which must keep painting."""
    return max(1, min(at_most, (os.cpu_count() or 2) - 1))


class Job(QObject):
    """One piece of background work, seen from the GUI thread."""

    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str)
    finished = Signal()

    # Emitted from the pool thread; re-emitted above on the GUI thread unless cancelled meanwhile.
    _yielded = Signal(object)
    _returned = Signal(object)
    _errored = Signal(str)
    _finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.done = False
        self._yielded.connect(self._forward_yielded)
        self._returned.connect(self._forward_returned)
        self._errored.connect(self._forward_errored)
        self._finished.connect(self._forward_finished)

    def cancel(self) -> None:
        """Ask the work to stop; from now on only ``finished`` is delivered."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def _forward_yielded(self, value: object) -> None:
        if not self.cancelled:
            self.yielded.emit(value)

    def _forward_returned(self, value: object) -> None:
        if not self.cancelled:
            self.returned.emit(value)

    def _forward_errored(self, message: str) -> None:
        if not self.cancelled:
            self.errored.emit(message)

    def _forward_finished(self) -> None:
        self.done = True
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, job: Job, fn: Callable[[], Any], niceness: int = 0) -> None:
        super().__init__()
        self.job = job
        self.fn = fn
        self.niceness = niceness

    def run(self) -> None:
        job = self.job
        lower_this_thread(self.niceness)
        try:
            value = self.fn()
            if inspect.isgenerator(value):
                try:
                    for item in value:
                        if job.cancelled:
                            break
                        job._yielded.emit(item)
                finally:
                    value.close()
            elif not job.cancelled:
                job._returned.emit(value)
        except Exception as exc:  # reported to the GUI, never a crash of the app
            log.debug("background job failed", exc_info=True)
            job._errored.emit(str(exc) or type(exc).__name__)
        finally:
            job._finished.emit()


class Background(QObject):
    """A thread pool for the GUI's background work (see the module docstring)."""

    def __init__(self, parent: QObject | None = None, threads: int = 2, niceness: int = 0) -> None:
        """``niceness`` > 0 lowers the priority of the pool's threads (and of the threads they start)."""
        super().__init__(parent)
        self.niceness = niceness
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, threads))
        self._live: set[Job] = set()

    def run(self, fn: Callable[..., Any], /, *args: Any, cancellable: bool = False,
            on_yield: Callable[[Any], None] | None = None, on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[str], None] | None = None, on_finished: Callable[[], None] | None = None,
            **kwargs: Any) -> Job:
        """Run ``fn(*args, **kwargs)`` (plus ``cancel=Event`` when ``cancellable``) on the pool.

        The callbacks are connected before the work starts, so none of its signals can be missed.
        """
        job = Job()  # created here: it lives in the calling (GUI) thread, so delivery is queued to it
        if cancellable:
            kwargs["cancel"] = job.cancel_event
        for signal, slot in ((job.yielded, on_yield), (job.returned, on_done), (job.errored, on_error),
                             (job.finished, on_finished)):
            if slot is not None:
                signal.connect(slot)
        self._live.add(job)
        job.finished.connect(lambda: self._live.discard(job))
        self.pool.start(_Runnable(job, lambda: fn(*args, **kwargs), self.niceness))
        return job

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[str], None]) -> Job:
        """``run`` for a one-off function with a result and an error callback (decodes, feature maps)."""
        return self.run(fn, on_done=on_done, on_error=on_error)

    def busy(self) -> bool:
        return bool(self._live)

    def cancel_all(self) -> None:
        for job in list(self._live):
            job.cancel()

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the pool's threads are idle (shutdown, tests); True if they are."""
        return self.pool.waitForDone(msecs)
