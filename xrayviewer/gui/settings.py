"""Persistent preferences (QSettings), with one switch to isolate them.

Set ``XRAYVIEWER_SETTINGS`` to an INI file path to keep settings there instead of the per-user store:
tests use it so they never read or clobber a real user's preferences.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ENV_SETTINGS = "XRAYVIEWER_SETTINGS"
MAX_RECENT = 8
DEFAULT_OPACITY = 0.45


def open_settings() -> QSettings:
    """The app's QSettings: the INI file from $XRAYVIEWER_SETTINGS if set, else the native store."""
    if path := os.environ.get(ENV_SETTINGS):
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("xrayviewer", "xrayviewer")


class Settings:
    """Typed accessors, so keys and defaults live in one place."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or open_settings()

    def _str(self, key: str) -> str:
        value = self.store.value(key, "")
        return str(value) if value is not None else ""

    @property
    def reviewer(self) -> str:
        return self._str("review/reviewer").strip()

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        self.store.setValue("review/reviewer", name.strip())

    @property
    def readers(self) -> list[str]:
        """Readers who have read on this computer (offered at launch besides those in the agreement log)."""
        return self._list("review/readers")

    def add_reader(self, name: str) -> None:
        name = name.strip()
        if name:
            self.store.setValue("review/readers", [name, *(r for r in self.readers if r != name)][:50])
            self.reviewer = name

    @property
    def blind_mode(self) -> str:
        return self._str("review/blind_mode") or "auto"

    @blind_mode.setter
    def blind_mode(self, mode: str) -> None:
        self.store.setValue("review/blind_mode", str(mode))

    @property
    def export_folder(self) -> str:
        """Where the last export went (the next one is offered there; never the study folder by default)."""
        return self._str("files/export_folder")

    @export_folder.setter
    def export_folder(self, folder: str) -> None:
        self.store.setValue("files/export_folder", folder)

    def _list(self, key: str) -> list[str]:
        value = self.store.value(key, [])
        if isinstance(value, str):  # INI files hand back a single item as a plain string
            value = [value] if value else []
        if not isinstance(value, (list, tuple)):  # a hand-edited or foreign store: not a list, so none
            return []
        return [str(v) for v in value if v]

    @property
    def last_folder(self) -> str:
        return self._str("files/last_folder")

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.store.setValue("files/last_folder", folder)

    @property
    def recent_folders(self) -> list[str]:
        return self._list("files/recent")

    def add_recent(self, folder: str | Path) -> None:
        folder = str(folder)
        recent = [folder, *(f for f in self.recent_folders if f != folder)][:MAX_RECENT]
        self.store.setValue("files/recent", recent)
        self.last_folder = folder

    def clear_recent(self) -> None:
        self.store.setValue("files/recent", [])

    @property
    def overlay_opacity(self) -> float:
        raw = self.store.value("view/overlay_opacity", DEFAULT_OPACITY)
        if not isinstance(raw, (str, int, float)):  # INI gives a string, the native store a number
            return DEFAULT_OPACITY
        try:
            value = float(raw)
        except ValueError:
            return DEFAULT_OPACITY
        return min(1.0, max(0.0, value))

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self.store.setValue("view/overlay_opacity", float(value))

    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self.store.value("window/geometry")
        state = self.store.value("window/state")
        return (geometry if isinstance(geometry, QByteArray) else None,
                state if isinstance(state, QByteArray) else None)

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def sync(self) -> None:
        self.store.sync()
