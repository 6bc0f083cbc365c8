"""DICOM attributes of the selected film; patient-identifying ones stay hidden until asked for."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

HIDDEN = "hidden"


class AttributesPanel(QWidget):
    """Key/value table of `film.meta`; keys in `film.phi_keys` read "hidden" unless revealed.

    Revealing lasts for the film on screen only: the next film starts hidden again, so patient data is never
    left on screen by accident.
    """

    revealed = Signal()  # the reader chose to see this film's patient data (the app log records that)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Attribute", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.reveal_button = QPushButton("Reveal patient data")
        self.reveal_button.setCheckable(True)
        self.reveal_button.setToolTip("Show patient-identifying attributes for this film")
        self.reveal_button.toggled.connect(self._on_reveal)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.reveal_button)
        self._meta: dict[str, str] = {}
        self._phi: frozenset[str] = frozenset()
        self.set_meta({}, frozenset(), "")

    def set_meta(self, meta: dict[str, str], phi_keys: frozenset[str], fmt: str = "") -> None:
        self._meta = dict(meta)
        self._phi = frozenset(phi_keys)
        self._format = fmt
        self.reveal_button.blockSignals(True)
        self.reveal_button.setChecked(False)
        self.reveal_button.blockSignals(False)
        self.reveal_button.setEnabled(bool(self._phi & self._meta.keys()))
        self._refresh()

    def _on_reveal(self, on: bool) -> None:
        self._refresh()
        if on:
            self.revealed.emit()

    def value_shown(self, key: str) -> str | None:
        for row in range(self.table.rowCount()):
            name, value = self.table.item(row, 0), self.table.item(row, 1)
            if name is not None and value is not None and name.text() == key:
                return value.text()
        return None

    def _refresh(self) -> None:
        reveal = self.reveal_button.isChecked()
        rows = list(self._meta.items())
        if not rows:
            rows = [("(none)", f"no DICOM attributes{f' — {self._format} file' if self._format else ''}")]
        self.table.setRowCount(len(rows))
        for i, (key, value) in enumerate(rows):
            shown = HIDDEN if key in self._phi and not reveal else str(value)
            k, v = QTableWidgetItem(key), QTableWidgetItem(shown)
            if shown == HIDDEN:
                f = v.font()
                f.setItalic(True)
                v.setFont(f)
            v.setToolTip(shown)
            self.table.setItem(i, 0, k)
            self.table.setItem(i, 1, v)
