"""QApplication setup and the GUI entry point."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Qt and the window load only when the GUI starts
    from PySide6.QtWidgets import QApplication

    from xrayviewer.gui.main_window import MainWindow

log = logging.getLogger(__name__)


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    # Row-major arrays (numpy's (H, W)) map to rows of the screen; our films are always row-major.
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def dark_palette(app: QApplication) -> None:
    """A dark Fusion palette: reading rooms are dark, and a white UI around a film dazzles."""
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, "#1f2329"), (roles.WindowText, "#e5e7eb"), (roles.Base, "#15181d"),
        (roles.AlternateBase, "#23272e"), (roles.ToolTipBase, "#2b3038"), (roles.ToolTipText, "#e5e7eb"),
        (roles.Text, "#e5e7eb"), (roles.Button, "#2b3038"), (roles.ButtonText, "#e5e7eb"),
        (roles.BrightText, "#ff6b6b"), (roles.Link, "#60a5fa"), (roles.Highlight, "#2563eb"),
        (roles.HighlightedText, "#ffffff"), (roles.PlaceholderText, "#8b93a1"),
    ):
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, roles.ButtonText, QColor("#6b7280"))
    pal.setColor(QPalette.ColorGroup.Disabled, roles.Text, QColor("#6b7280"))
    pal.setColor(QPalette.ColorGroup.Disabled, roles.WindowText, QColor("#6b7280"))
    app.setPalette(pal)


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, e.g. under pytest-qt)."""
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    if existing is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    elif isinstance(existing, QApplication):
        app = existing
    else:  # a non-GUI QCoreApplication cannot show windows, and Qt allows only one application
        raise RuntimeError("a QCoreApplication without widgets already exists; the viewer needs a QApplication")
    app.setApplicationName("xrayviewer")
    app.setOrganizationName("xrayviewer")
    app.setStyle("Fusion")
    dark_palette(app)
    configure_pyqtgraph()
    return app


def create_window(folder: Path | None = None, *, model_path: Path | None = None, log_path: Path | None = None,
                  provider: str = "auto", **kwargs: Any) -> MainWindow:
    """Build the main window and open `folder` (default: the bundled sample study).

    A film path (as a file manager passes it) opens its folder with that film selected. ``model_path`` None
    opens without a model (the window says so); ``xrayviewer gui`` resolves the default model
    (:func:`xrayviewer.cli.common.model_or_default`).
    """
    from xrayviewer.gui.main_window import MainWindow
    from xrayviewer.paths import samples_dir
    from xrayviewer.review import default_log_path

    window = MainWindow(model_path=model_path,
                        log_path=log_path or default_log_path(), provider=provider, **kwargs)
    target = Path(folder or samples_dir())
    if target.is_file():
        window.open_folder(target.parent, select=target)
    elif target.is_dir():
        window.open_folder(target)
    else:
        window.statusBar().showMessage(f"Folder not found: {target} — use File ▸ Open folder", 10000)
    return window


def main(folder: Path | None = None, *, model_path: Path | None = None, log_path: Path | None = None,
         provider: str = "auto") -> int:
    app = create_app()
    window = create_window(folder, model_path=model_path, log_path=log_path, provider=provider)
    window.show()
    window.ask_reader()  # who is reading: at every launch, never assumed
    return int(app.exec())
