"""File ▸ Export: the study's review CSV, the whole agreement log as CSV, and DICOM results (SR + heat maps).

What goes in each file is decided by the Qt-free core (:mod:`xrayviewer.review.export`,
:mod:`xrayviewer.review`, :mod:`xrayviewer.pacs`); here the window asks where to write, writes, and says what
it wrote. Exports are offered outside the study folder (see :func:`export_folder`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog, QMessageBox

from xrayviewer.review import AgreementLog, ReviewError, export_review_csv
from xrayviewer.review.export import export_study_csv

if TYPE_CHECKING:
    from xrayviewer.gui.main_window import MainWindow

log = logging.getLogger(__name__)


def export_folder(w: MainWindow) -> Path:
    """Where exports are offered: the last export folder, else Documents (else home); never inside the
    study folder unless the reader puts it there, so a study copied on keeps no review data by accident."""
    candidates = [w.settings.export_folder,
                  QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation),
                  str(Path.home())]
    for text in candidates:
        if not text:
            continue
        folder = Path(text)
        inside = w.folder is not None and (folder == w.folder or w.folder in folder.parents)
        if folder.is_dir() and not inside:
            return folder
    return Path.home()


def default_export_path(w: MainWindow, what: str = "review") -> Path:
    """``<study>-<what>-<date>.csv`` in :func:`export_folder`."""
    name = w.folder.name if w.folder is not None else "xrayviewer"
    return export_folder(w) / f"{name}-{what}-{time.strftime('%Y%m%d')}.csv"


def export_csv(w: MainWindow) -> None:
    """One row per film of this study for the current reader: decisions, unreviewed films with the model's
    call, unreadable films with their error and any non-diagnostic / recall decision."""
    if w.folder is None:
        QMessageBox.warning(w, "Nothing to export", "Open a study first.")
        return
    path, _ = QFileDialog.getSaveFileName(w, "Export review CSV (one row per film)",
                                          str(default_export_path(w)), "CSV files (*.csv)")
    if not path:
        return
    try:
        n = export_study_csv(w.session, path)
    except ReviewError as exc:
        QMessageBox.critical(w, "Export failed", str(exc))
        return
    w.settings.export_folder = str(Path(path).parent)
    reviewed = w.session.counts().reviewed
    log.info("exported the study CSV: %d films, %d reviewed by the reader", n, reviewed)
    QMessageBox.information(w, "Export done", f"Wrote {n} films ({reviewed} reviewed, "
                            f"{n - reviewed} not) to\n{path}")


def export_log_csv(w: MainWindow) -> None:
    """Every study's latest decision per film and reader, straight from the agreement log."""
    path, _ = QFileDialog.getSaveFileName(w, "Export the whole agreement log",
                                          str(default_export_path(w, "agreement-log")), "CSV files (*.csv)")
    if not path:
        return
    source: AgreementLog | Path = w.log if w.log is not None else w.log_path
    try:
        n = export_review_csv(source, path)
    except ReviewError as exc:
        QMessageBox.critical(w, "Export failed", str(exc))
        return
    w.settings.export_folder = str(Path(path).parent)
    log.info("exported the agreement log: %d decisions", n)
    QMessageBox.information(w, "Export done", f"Wrote {n} decisions (every study) to\n{path}")


def export_dicom(w: MainWindow) -> None:
    """An SR and a heat-map capture per scored DICOM film of this study, written off the GUI thread."""
    from xrayviewer.gui.pacs_dialog import export_study, export_summary

    if w.engine is None or w.folder is None:
        QMessageBox.warning(w, "DICOM export", "Open a study and let it be scored first.")
        return
    out = QFileDialog.getExistingDirectory(w, "Export DICOM results to", str(w.folder.parent))
    if not out:
        return
    items, card, folder = list(w.session.items), w.engine.card, w.folder

    def done(result: Any) -> None:
        QMessageBox.information(w, "DICOM export", export_summary(result, Path(out)))

    def failed(message: str) -> None:
        QMessageBox.critical(w, "DICOM export failed", message)

    w.statusBar().showMessage("Writing DICOM results…")
    w.tasks.submit(lambda: export_study(items, card, folder, Path(out)), done, failed)
