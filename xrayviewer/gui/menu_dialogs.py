"""The dialogs the window's menus open: Open from PACS, Agreement statistics (with the site threshold), the
model card, feature maps and About.

The dialogs themselves live in :mod:`xrayviewer.gui.dialogs` and :mod:`xrayviewer.gui.pacs_dialog`; this module
hands each one what it needs from the window and keeps a reference to it (a dialog shown without one would be
collected while on screen; tests and the screenshot script read them as ``window.stats_dialog`` etc.).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox

from xrayviewer import NOTICE, __version__
from xrayviewer.gui.dialogs import FeatureMapDialog, ModelCardDialog, StatisticsDialog
from xrayviewer.review import LoggedDecision, ReviewError

if TYPE_CHECKING:
    from xrayviewer.gui.main_window import MainWindow
    from xrayviewer.gui.pacs_dialog import PacsDialog


class MenuDialogs:
    """Opens the window's dialogs and keeps the last one of each kind."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.pacs: PacsDialog | None = None
        self.statistics: StatisticsDialog | None = None
        self.card: ModelCardDialog | None = None
        self.features: FeatureMapDialog | None = None  # one, reused: it follows the selected film

    def open_from_pacs(self) -> None:
        """File ▸ Open from PACS: search, fetch a study into the cache, open it like a folder."""
        from xrayviewer.gui.pacs_dialog import PacsDialog, fetched_message

        w = self.w

        def opened(result: Any) -> None:
            w.open_folder(result.folder)
            if result.problems:
                QMessageBox.information(w, "Opened from PACS", fetched_message(result))

        self.pacs = PacsDialog(lambda fn, done, failed: w.tasks.submit(fn, done, failed), opened, w)
        self.pacs.show()

    def show_statistics(self) -> None:
        """Review ▸ Agreement statistics: per reader, this study or all; the drift check when a model is on."""
        w = self.w
        if w.log is None:
            QMessageBox.warning(w, "No statistics", f"The agreement log is unavailable: {w.log_error}")
            return
        log_ = w.log

        def decisions(only_study: bool) -> list[LoggedDecision]:
            return log_.latest(study=w.study if only_study and w.study else None)

        site = w.site_threshold.hooks(log_.latest)
        try:
            dialog = StatisticsDialog(decisions, w.folder.name if w.folder else "", w, site)
        except ReviewError as exc:
            QMessageBox.critical(w, "No statistics", str(exc))
            return
        self.statistics = dialog
        dialog.show()

    def show_model_card(self) -> None:
        """Help ▸ Model card, with the threshold in force."""
        w = self.w
        if w.engine is None:
            return
        self.card = ModelCardDialog(w.engine.card, str(w.engine.path), w.engine.provider, w, w.threshold_in_force)
        self.card.show()

    def show_feature_maps(self) -> None:
        """View ▸ Feature maps of the selected film (computed off the GUI thread by the dialog)."""
        w = self.w
        if w.engine is None:
            return
        if self.features is None:
            def submit(fn: Callable[[], Any], done: Callable[[Any], None], failed: Callable[[str], None]) -> None:
                w.tasks.submit(fn, done, failed)  # the dialog follows its own jobs: it needs no Job back

            self.features = FeatureMapDialog(w.engine, submit, w)
        self.features.show()
        self.features.raise_()
        item = w.current_item()
        film = w.decoded_film(item.path) if item is not None else None
        self.features.set_film(film, item.name if item else "")

    def show_about(self) -> None:
        """Help ▸ About: version, the notice, the keys, and where the logs are."""
        from xrayviewer.applog import log_dir

        logs = html.escape(str(log_dir()))
        QMessageBox.about(self.w, "About xrayviewer",
                          f"<b>xrayviewer {__version__}</b><p>{NOTICE}</p>"
                          "<p>Keys: A agree · D disagree · N normal · P pneumonia · J/K next/previous · "
                          "H heat map · F fit · Shift+N non-diagnostic · Shift+R recall.</p>"
                          "<p>View: I invert · R/L rotate · X/Y flip · 1-9 window presets · 0 reset · Z 1:1 · "
                          "M ruler.</p>"
                          f"<p>Log file and crash reports: <a href='file://{logs}'>{logs}</a></p>"
                          f"<p>Agreement log: {html.escape(str(self.w.log_path))}</p>")
