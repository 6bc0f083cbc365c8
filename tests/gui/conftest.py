"""GUI test fixtures: offscreen Qt, isolated settings, no blocking dialogs, the tiny model on sample films."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from xrayviewer.paths import samples_dir
from xrayviewer.review.session import RunState

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QStandardPaths  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox  # noqa: E402

BROKEN_NAME = "zz-broken.jpeg"
WAIT_MS = 20_000


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """The 16 bundled sample films plus one file that is not an image at all."""
    folder = tmp_path / "study"
    folder.mkdir()
    for p in sorted(samples_dir().glob("*.jpeg")):
        shutil.copy(p, folder / p.name)
    (folder / BROKEN_NAME).write_bytes(b"this is not a JPEG, just text pretending to be one\n" * 4)
    return folder


@dataclass
class Dialogs:
    """What the app tried to show; dialogs return canned answers instead of blocking."""

    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, title, text)
    reviewer: str | None = "Dr Test"
    reviewer_asked: int = 0
    reader_offers: list[tuple[list[str], str]] = field(default_factory=list)  # (known readers, preselected)
    blind: Any = None  # a BlindMode to answer with (None: keep what was offered)
    save_path: str = ""
    folder: str = ""

    def texts(self, kind: str | None = None) -> list[str]:
        return [f"{t}\n{x}" for k, t, x in self.messages if kind is None or k == kind]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dialogs]:
    """Every test gets its own settings INI and canned dialogs."""
    monkeypatch.setenv("XRAYVIEWER_SETTINGS", str(tmp_path / "settings.ini"))
    QStandardPaths.setTestModeEnabled(True)
    d = Dialogs()

    def recorder(kind: str) -> Callable[..., Any]:
        def show(_parent: Any, title: str, text: str, *args: Any, **kwargs: Any) -> Any:
            d.messages.append((kind, title, text))
            return QMessageBox.StandardButton.Ok
        return show

    for kind in ("critical", "warning", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(recorder(kind)))

    def get_text(*args: Any, **kwargs: Any) -> tuple[str, bool]:
        d.reviewer_asked += 1
        return (d.reviewer or "", d.reviewer is not None)

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))

    from xrayviewer.gui.reader import BlindMode, ReaderChoice, ReaderDialog

    def choose_reader(_parent: Any, readers: list[str], last: str, blind: BlindMode) -> ReaderChoice | None:
        d.reviewer_asked += 1
        d.reader_offers.append((list(readers), last))
        return ReaderChoice(d.reviewer, d.blind if d.blind is not None else blind) if d.reviewer else None

    monkeypatch.setattr(ReaderDialog, "choose", staticmethod(choose_reader))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (d.save_path, "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: d.folder))
    yield d


@pytest.fixture
def make_window(qtbot: Any, tiny_model: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Factory: a shown MainWindow on the tiny model; background work is stopped at teardown."""
    from xrayviewer.gui.app import create_app
    from xrayviewer.gui.main_window import MainWindow

    create_app()
    windows: list[MainWindow] = []

    def make(*, model_path: Path | None = tiny_model, log_path: Path | None = None, **kwargs: Any) -> MainWindow:
        kwargs.setdefault("cache_path", tmp_path / "score-cache.sqlite3")  # never another test's scores
        w = MainWindow(model_path=model_path, log_path=log_path or tmp_path / "log.sqlite3", **kwargs)
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()


def open_and_score(qtbot: Any, window: Any, folder: Path) -> None:
    """Open `folder` and wait until scoring has finished and the top film is on screen."""
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.folder == folder.resolve() and window.run_state is RunState.DONE, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.viewer.film is not None, timeout=WAIT_MS)


@pytest.fixture
def scored(qtbot: Any, make_window: Callable[..., Any], study: Path) -> Any:
    """A window with the study open and scored."""
    w = make_window()
    open_and_score(qtbot, w, study)
    return w
