"""File > Open from PACS (list studies, fetch one into the cache, open it like a folder) and File > Export
DICOM results (an SR and a heat-map capture per scored DICOM film of the open study).

Network and file work runs on the window's Background pool; a PACS fault is one line in the dialog,
never a traceback. Patient name and ID stay hidden until "Show patient data" is ticked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from xrayviewer import NOTICE

COLUMNS = ("Date", "Modalities", "Images", "Description", "Study UID", "Patient ID", "Patient name")
PATIENT_COLUMNS = (5, 6)


def default_server() -> str:
    """The configured default server's URL ('' when none is configured or the config is unusable)."""
    from xrayviewer.pacs import PacsError, load_config

    try:
        return load_config(None).url
    except PacsError:
        return ""


def search(server: str, modalities: str, since: str) -> list[Any]:
    """Runs on a worker thread: the studies matching the filters (PacsError on any fault)."""
    from xrayviewer.pacs import PacsClient, PacsError, load_config

    mods = [m.strip().upper() for m in modalities.split(",") if m.strip()]
    since = since.strip()
    if since and not (len(since) == 8 and since.isdigit()):
        raise PacsError(f"'since' must be a date as YYYYMMDD, got {since!r}", "config")
    with PacsClient(load_config(server.strip() or None)) as client:
        return client.search_studies(modalities=mods, since=since)


def fetch(server: str, study_uid: str) -> Any:
    """Runs on a worker thread: the study's films in the local cache (a FetchResult)."""
    from xrayviewer.pacs import PacsClient, StudyCache, load_config

    with PacsClient(load_config(server.strip() or None)) as client:
        return StudyCache().fetch_study(client, study_uid)


class PacsDialog(QDialog):
    """Search a PACS and pick a study. ``run(fn, on_done, on_error)`` runs work off the GUI thread;
    ``on_fetched(result)`` gets the FetchResult of the study the user opened."""

    def __init__(self, run: Callable[..., Any], on_fetched: Callable[[Any], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.resize(820, 460)
        self._run = run
        self._on_fetched = on_fetched
        self.studies: list[Any] = []
        self.server = QLineEdit(default_server())
        self.server.setPlaceholderText("https://pacs.example.org/dicom-web (or a server name from pacs.ini)")
        self.modalities = QLineEdit("CR,DX")
        self.since = QLineEdit()
        self.since.setPlaceholderText("YYYYMMDD (optional)")
        form = QFormLayout()
        form.addRow("Server", self.server)
        form.addRow("Modalities", self.modalities)
        form.addRow("Since", self.since)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.start_search)
        self.show_patient = QCheckBox("Show patient data")
        self.show_patient.toggled.connect(self._show_patient_columns)
        row = QHBoxLayout()
        row.addWidget(self.search_button)
        row.addStretch(1)
        row.addWidget(self.show_patient)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.status = QLabel("Credentials come from the PACS config file or the XRAYVIEWER_PACS_* environment.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = buttons.addButton("Open study", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self._show_patient_columns(False)

    def _show_patient_columns(self, show: bool) -> None:
        for column in PATIENT_COLUMNS:
            self.table.setColumnHidden(column, not show)

    def _selection_changed(self) -> None:
        self.open_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def _busy(self, busy: bool, message: str) -> None:
        self.search_button.setEnabled(not busy)
        self.open_button.setEnabled(not busy and bool(self.table.selectionModel().selectedRows()))
        self.status.setText(message)

    def start_search(self) -> None:
        self._busy(True, "Searching…")
        server, mods, since = self.server.text(), self.modalities.text(), self.since.text()
        self._run(lambda: search(server, mods, since), self._show_studies, self._failed)

    def _failed(self, message: str) -> None:
        self._busy(False, message)

    def _show_studies(self, studies: list[Any]) -> None:
        self.studies = list(studies)
        self.table.setRowCount(len(self.studies))
        for r, st in enumerate(self.studies):
            cells = (st.date, ",".join(st.modalities), "" if st.instances is None else str(st.instances),
                     st.description, st.study_uid, st.patient_id, st.patient_name)
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._busy(False, f"{len(self.studies)} studies" if self.studies else "No studies match")

    def open_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        study = self.studies[rows[0].row()]
        self._busy(True, f"Fetching study {study.study_uid}…")
        server = self.server.text()
        self._run(lambda: fetch(server, study.study_uid), self._fetched, self._failed)

    def _fetched(self, result: Any) -> None:
        self._busy(False, f"{len(result.films)} films fetched")
        self._on_fetched(result)
        self.accept()


def fetched_message(result: Any) -> str:
    """What the status bar says after a study arrives: its films, and the instances left out and why."""
    text = f"{len(result.films)} films from the PACS"
    if result.problems:
        first = result.problems[0][1]
        more = ", …)" if len(result.problems) > 1 else ")"
        text += f"; {len(result.problems)} instances not opened ({first}{more}"
    return text


# File > Export DICOM results ----------------------------------------------------------------------------------

def export_study(items: list[Any], card: Any, base: Path, out_dir: Path) -> Any:
    """Runs on a worker thread: SR + capture for every scored DICOM film; returns the DicomOutputs tally."""
    from xrayviewer.dicomout import DicomResultError
    from xrayviewer.dicomout.outputs import DicomOutputs

    outputs = DicomOutputs(base=base, card=card, out_dir=out_dir)
    for item in items:
        if str(getattr(item, "status", "ok")) != "ok":
            continue  # not scored (yet), or unreadable: nothing to report
        try:
            outputs.add(item)
        except (DicomResultError, OSError):
            continue  # counted in outputs.failed, listed by the caller
    return outputs


def export_summary(outputs: Any, out_dir: Path) -> str:
    lines = [f"Wrote the results of {outputs.written} DICOM films to\n{out_dir}", "", NOTICE]
    if outputs.not_dicom:
        lines.insert(1, f"{outputs.not_dicom} films are not DICOM: no DICOM result for them.")
    failures = [m for messages in outputs.failed.values() for m in messages]
    if failures:
        lines.insert(1, f"{len(failures)} films failed: {failures[0]}")
    return "\n".join(lines)
