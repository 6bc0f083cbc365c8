"""Render the review app's documentation screenshots (PNG) from the bundled sample study.

Runs on a virtual display the size of a small laptop screen
(``xvfb-run -s "-screen 0 1366x768x24" python scripts/screenshots.py``) or, without one, on Qt's offscreen
platform; widgets are captured with ``QWidget.grab()``, and the whole screen (``screen.png``: does the
window fit?) with ``QScreen.grabWindow``. Settings, the score cache and the agreement log live in a
temporary folder, so a user's own preferences and decisions are never touched.

    python scripts/screenshots.py [--model PATH] [--folder DIR] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def wait_for(app: object, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def settle(app: object, seconds: float = 0.4) -> None:
    """Let queued thumbnails, repaints and layouts land before grabbing."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    from xrayviewer.paths import default_model_path, samples_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the bundled one)")
    parser.add_argument("--folder", type=Path, default=None, help="films to show (default: bundled samples)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="output folder")
    parser.add_argument("--size", default="1366x768", help="main window size WxH (it is fitted to the screen)")
    args = parser.parse_args(argv)

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="xrayviewer-shots-"))
    os.environ["XRAYVIEWER_SETTINGS"] = str(tmp / "settings.ini")

    from xrayviewer.gui.app import create_app
    from xrayviewer.gui.main_window import MainWindow
    from xrayviewer.gui.reader import BlindMode, ReaderDialog

    model = args.model or default_model_path()
    folder = (args.folder or samples_dir()).resolve()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    app = create_app()

    window = MainWindow(model_path=model, log_path=tmp / "agreement-log.sqlite3",
                        cache_path=tmp / "score-cache.sqlite3")
    w, h = (int(x) for x in args.size.split("x"))
    window.resize(w, h)
    window.fit_to_screen()
    window.show()
    reader = ReaderDialog(["Dr Example", "Dr Second"], "Dr Example", BlindMode.AUTO, window)
    reader.show()
    settle(app)
    reader_shot = reader.grab()
    reader.close()
    window.set_reader("Dr Example")
    if window.engine is None:
        print(f"screenshots: model unavailable ({window.model_error}); screenshots would be misleading",
              file=sys.stderr)
        return 1
    window.open_folder(folder)
    wait_for(app, lambda: window.folder == folder and window.run_state == "done", 300, "scoring")
    items = [window.proxy.item_at(window.proxy.index(r, 0)) for r in range(window.proxy.rowCount())]

    # A few decisions, so thumbnails show review marks and the statistics have content.
    for row, kind in ((1, "agree"), (2, "disagree"), (3, "agree"), (len(items) - 1, "agree"),
                      (len(items) - 2, "NORMAL")):
        if 0 <= row < len(items) and items[row].status == "ok":
            window.select_path(items[row].path)
            wait_for(app, lambda: window.current_item() is not None, 10, "selection")
            window.decide(kind)

    # The most suspicious film that the dataset labels as pneumonia (Kermany names: person*_bacteria/virus).
    pneumonia = [it for it in items if it.status == "ok" and ("bacteria" in it.name or "virus" in it.name)]
    target = (pneumonia or items)[0]
    window.select_path(target.path)
    wait_for(app, lambda: window.viewer.film is not None and window.viewer.item is target, 30, "film")
    window.viewer.set_overlay_enabled(True)
    settle(app, 1.0)
    shots = {"main-window.png": window.grab(), "reader.png": reader_shot}
    borderline = [it for it in items if it.borderline]
    if borderline:  # a call close to the threshold: the amber mark on the tile, the viewer and the panel
        window.select_path(borderline[0].path)
        wait_for(app, lambda: window.viewer.film is not None and window.viewer.item is borderline[0], 30, "film")
        settle(app, 1.0)
        shots["borderline.png"] = window.grab()
        window.select_path(target.path)
        wait_for(app, lambda: window.viewer.item is target, 30, "film")
    screen = app.primaryScreen()  # type: ignore[attr-defined]
    if os.environ.get("QT_QPA_PLATFORM") != "offscreen" and screen is not None:
        shots["screen.png"] = screen.grabWindow(0)

    # Reading tools on a DICOM film with its pixel spacing: rotated, a window preset, the ruler in mm.
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QPointF

    from tests.films.testkit import make_dataset, save

    study = tmp / "dicom-study"
    study.mkdir()
    grey = np.asarray(Image.open(target.path).convert("L"), np.uint16) * 16  # 12-bit stored values
    save(make_dataset(grey, bits_stored=12, WindowCenter=2048, WindowWidth=4096, PixelSpacing=[0.2, 0.2]),
         study / "chest.dcm")
    window.open_folder(study)
    wait_for(app, lambda: window.folder == study.resolve() and window.run_state == "done", 120, "DICOM scoring")
    wait_for(app, lambda: window.viewer.film is not None, 30, "DICOM film")
    v = window.viewer
    v.set_overlay_enabled(False)
    fh, fw = v.shown_grey().shape
    v.add_ruler((fw * 0.25, fh * 0.55), (fw * 0.75, fh * 0.55))
    settle(app, 0.6)
    v._mouse_moved(v.view.mapViewToScene(QPointF(fw * 0.5, fh * 0.4)))  # the readout, as under the mouse
    shots["viewer-tools.png"] = window.grab()
    window.open_folder(folder)
    wait_for(app, lambda: window.folder == folder and window.run_state == "done", 300, "rescoring (cached)")

    window.show_feature_maps()
    dialog = window.feature_dialog
    assert dialog is not None
    wait_for(app, lambda: "showing" in dialog.info.text(), 60, "feature maps")
    if dialog.layer_box.count() > 1:
        dialog.layer_box.setCurrentIndex(dialog.layer_box.count() // 2)
    settle(app)
    shots["feature-maps.png"] = dialog.grab()
    dialog.close()

    window.show_statistics()
    settle(app)
    shots["statistics.png"] = window.stats_dialog.grab()
    window.stats_dialog.close()

    window.show_model_card()
    settle(app)
    shots["model-card.png"] = window.card_dialog.grab()
    window.card_dialog.close()

    for name, pixmap in shots.items():
        path = out / name
        if not pixmap.save(str(path), "PNG"):
            print(f"screenshots: could not write {path}", file=sys.stderr)
            return 1
        print(path)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
