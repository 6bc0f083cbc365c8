"""Who is reading: asked at every launch (the last reader preselected, never assumed), with blinded reading.

A reader name silently carried over would put one radiologist's calls under another's name, so the app asks
at every launch: pick a known reader (everyone in the agreement log and on this computer) or add one. The
blinded-reading choice is asked at the same time: automatic (on when another reader has already read the
study), always, or off.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from xrayviewer.common.vocab import TextEnum


class BlindMode(TextEnum):
    AUTO = "auto"  # on when another reader has already read the study
    ON = "on"
    OFF = "off"

    @property
    def session_value(self) -> bool | None:
        """What ``ReviewSession.blinded`` takes (None = automatic)."""
        return {BlindMode.AUTO: None, BlindMode.ON: True, BlindMode.OFF: False}[self]


_BLIND_LABELS = {
    BlindMode.AUTO: "Automatic: on when another reader has already read the study",
    BlindMode.ON: "Always: hide other readers' decisions until I have decided the film",
    BlindMode.OFF: "Off: show every reader's decisions",
}


@dataclass(frozen=True)
class ReaderChoice:
    name: str
    blind: BlindMode


class ReaderDialog(QDialog):
    """Pick or add the reader; OK is only possible with a name."""

    def __init__(self, readers: list[str], last: str = "", blind: BlindMode = BlindMode.AUTO,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Who is reading?")
        self.names = QComboBox()
        self.names.setEditable(True)
        self.names.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        known = sorted({r.strip() for r in readers if r.strip()} | ({last.strip()} if last.strip() else set()),
                       key=str.casefold)
        self.names.addItems(known)
        self.names.setCurrentText(last.strip())
        if (edit := self.names.lineEdit()) is not None:  # always, once the combo is editable
            edit.setPlaceholderText("your name, as it should appear in the log")
        self.blind = QComboBox()
        for mode in BlindMode:
            self.blind.addItem(_BLIND_LABELS[mode], mode.value)
        self.blind.setCurrentIndex(self.blind.findData(BlindMode(blind).value))
        self.intro = intro = QLabel("Every decision is recorded under this name. Pick yourself from the list or "
                                    "type a new name." + (f" Last reader here: <b>{last}</b> — confirm it is you."
                                                          if last else ""))
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Reader:", self.names)
        form.addRow("Blinded reading:", self.blind)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start reading")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.names.currentTextChanged.connect(self._update_ok)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._update_ok()
        self.resize(520, 180)

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.names.currentText().strip()))

    def choice(self) -> ReaderChoice:
        return ReaderChoice(self.names.currentText().strip(), BlindMode(self.blind.currentData()))

    @staticmethod
    def choose(parent: QWidget | None, readers: list[str], last: str, blind: BlindMode) -> ReaderChoice | None:
        """Ask modally; None when cancelled (tests replace this with a canned answer)."""
        dialog = ReaderDialog(readers, last, blind, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        choice = dialog.choice()
        return choice if choice.name else None
