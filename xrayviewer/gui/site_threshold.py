"""The operating threshold in force for the window: the model card's, or a site threshold once accepted.

A site threshold is proposed by the drift check in the statistics dialog and recorded in the agreement log
(accept/revert, under the reader's name) by :mod:`xrayviewer.review.drift`. Here it is applied everywhere the
window shows a call: the engine (every new score), every call already shown, the status bar and the model card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from xrayviewer.gui.dialogs import SiteThresholdHooks, ThresholdInForce
from xrayviewer.review import LoggedDecision, ReviewError
from xrayviewer.review.drift import SiteProposal, accept, effective_threshold, revert

if TYPE_CHECKING:
    from xrayviewer.gui.main_window import MainWindow

log = logging.getLogger(__name__)


class SiteThreshold:
    """Holds :class:`ThresholdInForce` for the window and applies it when accepted or reverted."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        engine = window.engine
        self.in_force = ThresholdInForce(engine.card.threshold if engine else float("nan"), "model card")

    def apply(self) -> None:
        """Use the site threshold when one is accepted for this model, else the card's: for the engine (every
        new score), for every call already shown, and in the model card dialog."""
        w = self.w
        if w.engine is None:
            return
        card = w.engine.card
        value, source = effective_threshold(card, w.log)
        entry = None
        if w.log is not None and source != "model card":
            try:
                entry = w.log.site_threshold(card.id)
            except ReviewError:
                entry = None
        self.in_force = ThresholdInForce(value, source, entry.reviewer if entry else "",
                                         entry.at_utc[:16].replace("T", " ") + " UTC" if entry else "")
        w.engine.threshold = value  # the scoring core reads it
        rows = w.session.apply_threshold(value, card)
        w.model.rows_changed(rows)
        current = w.current_item()
        if rows and current is not None:
            w.viewer.update_score(current)
            w.refresh_review_panel()
        if source != "model card":
            w.model_label.setText(f"Model {card.id} · site threshold {value:.3f}")
        else:
            w.model_label.setText(f"Model {card.id}")

    def hooks(self, site_decisions: Callable[[], list[LoggedDecision]]) -> SiteThresholdHooks | None:
        """What the statistics dialog needs to propose, accept and revert a site threshold (None: no model)."""
        if self.w.engine is None:
            return None
        return SiteThresholdHooks(self.w.engine.card, lambda: self.in_force, site_decisions, self.accept,
                                  self.revert)

    def accept(self, proposal: SiteProposal) -> str:
        """Record the proposal under the reader's name and use it; an error message, or '' when done."""
        w = self.w
        if w.log is None:
            return f"the agreement log is unavailable: {w.log_error}"
        reader = w.ensure_reviewer()
        if not reader:
            return "no reader chosen: accepting is recorded under the reader's name"
        try:
            accept(w.log, proposal, reader)
        except (ReviewError, ValueError) as exc:
            return str(exc)
        log.info("site threshold %.4f accepted for model %s (was %.4f)", proposal.proposed, proposal.model_id,
                 proposal.current)
        self.apply()
        return ""

    def revert(self) -> str:
        """Go back to the model card's threshold (recorded under the reader's name); an error, or ''."""
        w = self.w
        if w.log is None or w.engine is None:
            return f"the agreement log is unavailable: {w.log_error}"
        reader = w.ensure_reviewer()
        if not reader:
            return "no reader chosen: reverting is recorded under the reader's name"
        try:
            revert(w.log, w.engine.card.id, reader)
        except (ReviewError, ValueError) as exc:
            return str(exc)
        log.info("site threshold reverted for model %s", w.engine.card.id)
        self.apply()
        return ""
