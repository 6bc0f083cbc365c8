"""The scoring run as the window shows it: start, cancel and stop it, and show its results as they arrive.

The run itself (hashing, the score cache, decoding, inference) is :mod:`xrayviewer.gui.scoring_run`, on the
window's scoring pool. This module decides *when* the GUI thread does what, so a 10,000-film study never
blocks it for long:

* batches that arrive within :func:`~xrayviewer.gui.scoring_run.emit_interval` are merged into the grid
  together, one re-sort for all of them, at most :data:`MERGE_MAX` films per turn of the event loop;
* the status bar's counts and the progress bar follow a merge :data:`AFTER_MERGE_MS` later, on their own turn
  (so does drawing a new top film: see ``MainWindow._on_current_changed``).

Keep work off the merge path: anything added to :meth:`ScoringController._show_incoming` runs once per merge.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from xrayviewer.common.vocab import Status
from xrayviewer.gui.background import Job
from xrayviewer.gui.scoring_run import Bundle, emit_interval, scoring_bundles
from xrayviewer.review.log import OUT_OF_SCOPE
from xrayviewer.review.session import RunState

if TYPE_CHECKING:
    from xrayviewer.gui.main_window import MainWindow

log = logging.getLogger(__name__)

MERGE_MAX = 1000  # scores merged into the grid per turn of the event loop
# Work that follows a merge (counts, progress bar, drawing the new top film) waits this long, so the event loop
# paints and answers input in between instead of doing it all in one turn (a queued call would run at once).
AFTER_MERGE_MS = 15


class ScoringController(QObject):
    """Runs at most one scoring run for the window and shows it: grid, current film, progress, counts."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.worker: Job | None = None  # the scoring run whose results are shown
        self.cached = 0  # how many of its scores came from the score cache (tests and bench read it)
        self._started = 0.0
        self._incoming: list[Bundle] = []  # its batches not shown yet (coalesced: one re-sort per interval)
        self._last_shown = 0.0
        self._show_timer = QTimer(self)
        self._show_timer.setSingleShot(True)
        self._show_timer.timeout.connect(self._show_incoming)
        # The status bar's counts (a pass over every film) and the progress bar (which repaints at once) follow
        # a merge on the next turn of the event loop, so each turn stays short in a 10,000-film study.
        self._progress: tuple[int, int, float] | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.setInterval(AFTER_MERGE_MS)
        self._status_timer.timeout.connect(self._show_progress)

    def start(self) -> None:
        """Score every film not scored yet (all of them for a new folder; the rest after a cancel)."""
        w = self.w
        if w.engine is None or self.worker is not None:
            return
        paths = w.session.pending_paths()
        if not paths:
            return
        job = w.scoring.run(scoring_bundles, paths, w.engine, batch_size=w.batch_size, decoder=w.decoder,
                            gate=w.gate, cache=w.cache, cache_key=w.cache_key, cancellable=True)
        self._started = time.monotonic()
        self.cached = 0
        job.yielded.connect(lambda bundle, j=job: self._on_bundle(j, bundle))
        job.errored.connect(lambda message, j=job: self._on_failed(j, message))
        job.finished.connect(lambda j=job: self._on_finished(j))
        self.worker = job
        w.session.run_started()
        w.progress.setRange(0, len(paths))
        w.progress.setValue(0)
        w.progress.setFormat(f"%v / {len(paths)}")
        w.progress.setVisible(True)
        w.cancel_button.setVisible(True)
        w.cancel_button.setEnabled(True)
        w.cancel_action.setEnabled(True)
        w.score_action.setEnabled(False)
        w.rate_label.setText("Scoring…")

    def cancel(self) -> None:
        """The reader's cancel: the run stops after its batch in flight; "Score remaining films" resumes."""
        if self.worker is None:
            return
        self.worker.cancel()
        self._drop_incoming()  # nothing more is shown once "cancelling" is
        self.w.session.run_cancelled()
        self.w.cancel_button.setEnabled(False)
        self.w.rate_label.setText("Cancelling…")

    def stop(self) -> None:
        """Detach the current run: it stops after its batch in flight, and nothing it sends is used."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker = None
        self._drop_incoming()
        self._ui_idle()

    def _drop_incoming(self) -> None:
        self._show_timer.stop()
        self._status_timer.stop()
        self._progress = None
        self._incoming.clear()

    def _ui_idle(self) -> None:
        self.w.cancel_button.setVisible(False)
        self.w.cancel_action.setEnabled(False)
        self.w.score_action.setEnabled(self.w.engine is not None)

    def _on_bundle(self, job: Job, bundle: Bundle) -> None:
        if job is not self.worker:
            return  # a superseded run: nothing more is shown (a cancelled one delivers nothing)
        self._incoming.append(bundle)
        self.cached += bundle.cached
        if not self._show_timer.isActive():
            wait = emit_interval(bundle.total) - (time.monotonic() - self._last_shown)
            self._show_timer.start(max(0, int(1000 * wait)))

    def _show_incoming(self) -> None:
        """Merge the batches that arrived since the last update: one re-sort of the grid for all of them.

        At most MERGE_MAX films per turn of the event loop (the rest follows on the next turn), so a flood of
        cached scores never blocks the window for long."""
        if not self._incoming:
            return
        w = self.w
        bundles, self._incoming = self._incoming, []
        self._last_shown = time.monotonic()
        results = [r for b in bundles for r in b.results]
        if len(results) > MERGE_MAX:
            last = bundles[-1]
            self._incoming = [Bundle(results[MERGE_MAX:], last.done, last.total, last.rate)]
            results = results[:MERGE_MAX]
            self._show_timer.start(0)
        w.model.apply_results(results)
        threshold = w.threshold_in_force.value  # read once: the check below runs per film
        if w.engine is not None and any(r.threshold != threshold for r in results):
            # a site threshold accepted or reverted while this run was going: its calls follow at once
            w.model.rows_changed(w.session.apply_threshold(threshold, w.engine.card))
        if w.session.should_show_top(w.list_view.currentIndex().isValid()):
            w.select_top()
        else:
            w.keep_current_in_view()
        current = w.current_item()
        if current is not None and current.path in {r.path for r in results}:
            w.viewer.update_score(current)
            w.refresh_review_panel()
        last = bundles[-1]
        self._progress = (last.done, last.total, last.rate)
        self._status_timer.start()  # counts and progress bar on their own turn of the event loop

    def _show_progress(self) -> None:
        self.w.update_counts()
        if self._progress is not None and self.worker is not None:
            done, total, rate = self._progress
            self.w.progress.setValue(done)
            self.w.rate_label.setText(f"Scoring: {done}/{total} · {rate:.1f} films/s")

    def _on_failed(self, job: Job, message: str) -> None:
        if job is not self.worker:
            return
        self.w.session.run_failed()
        QMessageBox.critical(self.w, "Scoring failed", message)

    def _on_finished(self, job: Job) -> None:
        if job is not self.worker:
            return
        w = self.w
        self._show_timer.stop()
        self._show_incoming()
        if self._incoming:  # more than one turn's worth still to show: finish once it is shown
            self._show_timer.stop()
            QTimer.singleShot(0, lambda: self._on_finished(job))
            return
        self._status_timer.stop()  # the counts are brought up to date here, once
        w.session.run_finished(job.cancelled)
        self.worker = None
        self._ui_idle()
        counts = w.update_counts()
        if job.cancelled:
            w.rate_label.setText(f"Cancelled: {counts['scored'] + counts['errors']} of {counts['total']} "
                                 "films scored. Scoring ▸ Score remaining films to resume.")
        elif w.session.run_state is RunState.DONE:
            w.rate_label.setText(f"Scored {counts['scored']} films, {counts['errors']} unreadable.")
            w.progress.setVisible(False)
        cancelled = job.cancelled
        QTimer.singleShot(0, lambda: self._log_summary(cancelled))  # its own turn of the event loop
        if w.session.should_show_top(w.list_view.currentIndex().isValid()) and w.proxy.rowCount():
            w.select_top()

    def _log_summary(self, cancelled: bool) -> None:
        """One line per scoring run in the app log: counts and speed only (no file names: they may name
        patients)."""
        w = self.w
        out = borderline = 0
        for it in w.session.items:  # one pass: a 10,000-film study
            if it.status is Status.OK:
                if it.prediction == OUT_OF_SCOPE:
                    out += 1
                else:
                    borderline += it.borderline
        c = w.session.counts()
        seconds = time.monotonic() - self._started
        log.info("scoring %s: %d films, %d scored (%d from the score cache), %d unreadable, %d out of scope, "
                 "%d borderline, %d pending, %.1f s, threshold %.4f (%s), %s",
                 "cancelled" if cancelled else "done", c.total, c.scored, self.cached, c.errors, out,
                 borderline, c.pending, seconds, w.threshold_in_force.value, w.threshold_in_force.source,
                 w.engine.provider if w.engine is not None else "no model")
