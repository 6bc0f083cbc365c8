"""The app's look in one place: banner colours, muted text, and the small widgets built from them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

MUTED = "color: #9ca3af;"

#: Banner kinds: background and text colour.
BANNERS = {
    "notice": ("#3a2a00", "#ffd27a"),  # the "assistant, not a diagnosis" notice: always shown
    "error": ("#5c1a1a", "#ffd0d0"),  # the model is unavailable
    "warning": ("#4a3300", "#ffe2a8"),  # the agreement log is unavailable or read-only
}


def banner(object_name: str, kind: str, text: str = "", *, bold: bool = False,
           selectable: bool = False) -> QLabel:
    """A full-width, word-wrapped message strip."""
    background, colour = BANNERS[kind]
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    weight = " font-weight: bold;" if bold else ""
    label.setStyleSheet(f"QLabel#{object_name} {{ background: {background}; color: {colour}; padding: 6px;{weight} }}")
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def muted(label: QLabel) -> QLabel:
    label.setStyleSheet(MUTED)
    return label
