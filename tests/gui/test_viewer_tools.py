"""Viewer tools on real widgets (issue 11, point 3, and the small things of point 8): invert, rotate, flip,
window/level presets by number and reset, 1:1 zoom and zoom limits, the pixel readout, the mm ruler; every
tool in the View menu with a shortcut that clashes with no review key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeySequence, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.films.testkit import make_dataset, save
from tests.gui.conftest import BROKEN_NAME, WAIT_MS, open_and_score
from xrayviewer.gui.viewer import MAX_VIEW_PX, MIN_VIEW_PX, Orientation, pixel_spacing

REVIEW_KEYS = {"A", "D", "N", "P", "J", "K", "H", "F"}


def gradient_film(folder: Path, *, photometric: str = "MONOCHROME2", **attrs: Any) -> Path:
    """A 12-bit DICOM whose every pixel has its own value (row * 100 + col), 60 rows x 80 columns."""
    folder.mkdir(parents=True, exist_ok=True)
    r, c = np.mgrid[0:60, 0:80]
    px = (r * 100 + c).astype(np.uint16)
    ds = make_dataset(px, bits_stored=13, photometric=photometric, WindowCenter=3000, WindowWidth=4000,
                      **attrs)
    return save(ds, folder / "grid.dcm")


@pytest.fixture
def grid(qtbot: Any, make_window: Any, tmp_path: Path) -> Any:
    gradient_film(tmp_path / "grid", PixelSpacing=[0.2, 0.1])  # rows 0.2 mm apart, columns 0.1 mm
    w = make_window()
    open_and_score(qtbot, w, tmp_path / "grid")
    return w


def test_every_view_tool_is_in_the_view_menu_with_a_unique_shortcut(grid: Any) -> None:
    view_menu = next(a.menu() for a in grid.menuBar().actions() if a.text() == "&View")
    texts = " ".join(a.text() for a in view_menu.actions())
    for word in ("Invert", "Rotate", "Flip", "Zoom 1:1", "Measure", "Reset view", "Window / level presets"):
        assert word in texts, word
    owners: dict[str, str] = {}
    for action in grid.actions():
        for seq in action.shortcuts():
            text = seq.toString(QKeySequence.SequenceFormat.PortableText)
            assert text not in owners, f"{text} bound to {owners[text]} and {action.text()}"
            owners[text] = action.text()
    review = {"A": "Agree", "D": "Disagree", "N": "NORMAL", "P": "PNEUMONIA", "J": "Next", "K": "Previous",
              "H": "heat map", "F": "Fit"}
    for key in REVIEW_KEYS:
        assert review[key].lower() in owners[key].lower(), (key, owners[key])
    for key in ("I", "R", "L", "X", "Y", "Z", "M", "0", *map(str, range(1, 10))):
        assert key in owners and key not in REVIEW_KEYS


def test_invert_rotate_flip_reset_by_keys(qtbot: Any, grid: Any) -> None:
    v = grid.viewer
    base = v.shown_grey().copy()
    assert base.shape == (60, 80)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_I)
    np.testing.assert_allclose(v.shown_grey(), 1.0 - base, atol=1e-6)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_I)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_R)  # 90 degrees clockwise: the top row becomes the right column
    shown = v.shown_grey()
    assert shown.shape == (80, 60)
    np.testing.assert_allclose(shown[:, -1], base[0, :], atol=1e-6)
    assert v.image.width() == 60 and v.image.height() == 80  # the film item follows the new shape
    qtbot.keyClick(grid.list_view, Qt.Key.Key_L)  # and back
    np.testing.assert_allclose(v.shown_grey(), base, atol=1e-6)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_X)  # mirror left-right
    np.testing.assert_allclose(v.shown_grey(), base[:, ::-1], atol=1e-6)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_Y)  # and top-bottom
    np.testing.assert_allclose(v.shown_grey(), base[::-1, ::-1], atol=1e-6)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_2)  # window preset 2: full range
    assert v.levels() == (0.0, 5979.0)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_I)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_0)  # reset: orientation, invert and the file's own window
    assert v.orientation == Orientation() and not v.inverted
    assert v.levels() == (1000.0, 5000.0)
    np.testing.assert_allclose(v.shown_grey(), base, atol=1e-6)


@pytest.mark.parametrize("turns,flip_h,flip_v", [(0, False, False), (1, False, False), (2, True, False),
                                                (3, False, True), (1, True, True)])
def test_readout_maps_the_screen_back_to_the_film(turns: int, flip_h: bool, flip_v: bool) -> None:
    """Orientation.to_source against numpy's own rotation of an index grid."""
    r, c = np.mgrid[0:5, 0:7]
    o = Orientation(turns, flip_h, flip_v)
    shown_r, shown_c = o.apply(r), o.apply(c)
    for i in range(shown_r.shape[0]):
        for j in range(shown_r.shape[1]):
            assert o.pixel_to_source(i, j, (5, 7)) == (shown_r[i, j], shown_c[i, j])


def test_pixel_readout_under_the_mouse(qtbot: Any, grid: Any) -> None:
    v = grid.viewer
    qtbot.keyClick(grid.list_view, Qt.Key.Key_R)  # readout must undo the rotation

    def hover(x: float, y: float) -> None:  # a real mouse-move event on the film view's viewport
        QApplication.processEvents()  # let the view apply its new range before mapping into it
        local = QPointF(v.graphics.mapFromScene(v.view.mapViewToScene(QPointF(x, y))))
        port = v.graphics.viewport()
        event = QMouseEvent(QEvent.Type.MouseMove, local, QPointF(port.mapToGlobal(local.toPoint())),
                            Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(port, event)
        qtbot.waitUntil(lambda: v.readout.text() != "", timeout=WAIT_MS)

    hover(59.5, 0.5)  # top right of the turned film = the film's top left pixel
    assert v.readout.text() == "x 0, y 0: 0 (stored value)"
    v.readout.setText("")
    hover(0.5, 79.5)  # bottom left = the film's bottom right
    assert v.readout.text() == "x 79, y 59: 5979 (stored value)"


def test_one_to_one_zoom_and_zoom_limits(qtbot: Any, grid: Any) -> None:
    v = grid.viewer
    qtbot.keyClick(grid.list_view, Qt.Key.Key_Z)
    assert v.screen_pixels_per_film_pixel() == pytest.approx(1.0, rel=0.02)
    v.view.scaleBy((1e-4, 1e-4))  # try to zoom in ten thousand times
    x0, x1 = v.view.viewRange()[0]
    assert x1 - x0 >= MIN_VIEW_PX * 0.99
    v.view.scaleBy((1e5, 1e5))  # and out
    x0, x1 = v.view.viewRange()[0]
    assert x1 - x0 <= MAX_VIEW_PX * 1.01
    qtbot.keyClick(grid.list_view, Qt.Key.Key_F)
    assert v.view.viewRange()[0][1] - v.view.viewRange()[0][0] < 2 * 80


def test_ruler_measures_in_mm_from_pixel_spacing(qtbot: Any, grid: Any) -> None:
    v = grid.viewer
    assert v.spacing == (0.2, 0.1, "PixelSpacing")
    measured: list[str] = []
    v.measured.connect(measured.append)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_M)
    assert v.ruler is not None and measured
    assert v.distance((10, 20), (40, 20)) == (pytest.approx(3.0), "mm")  # 30 columns x 0.1 mm
    assert v.distance((10, 20), (10, 50)) == (pytest.approx(6.0), "mm")  # 30 rows x 0.2 mm
    v.add_ruler((10, 20), (40, 20))
    assert measured[-1] == "3.0 mm"
    qtbot.keyClick(grid.list_view, Qt.Key.Key_R)  # turned, the same stretch of film measures the same
    assert v.distance((40, 10), (40, 40)) == (pytest.approx(3.0), "mm")
    assert v.ruler is None  # turning the film takes the ruler away (its points meant the old orientation)
    qtbot.keyClick(grid.list_view, Qt.Key.Key_M)
    assert v.ruler is not None
    qtbot.keyClick(grid.list_view, Qt.Key.Key_M)
    assert v.ruler is None


def test_ruler_without_spacing_says_pixels(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    gradient_film(tmp_path / "nospacing")
    w = make_window()
    open_and_score(qtbot, w, tmp_path / "nospacing")
    w.viewer.add_ruler((0, 0), (30, 40))
    assert w.viewer.distance((0, 0), (30, 40)) == (pytest.approx(50.0), "px")
    assert "no pixel spacing" in w.viewer.ruler_text.textItem.toPlainText()


def test_imager_pixel_spacing_and_odd_values() -> None:
    assert pixel_spacing({"ImagerPixelSpacing": "0.143\\0.143"}) == (0.143, 0.143, "ImagerPixelSpacing")
    assert pixel_spacing({"PixelSpacing": "0.1\\0.2", "ImagerPixelSpacing": "0.3\\0.3"})[2] == "PixelSpacing"
    assert pixel_spacing({"PixelSpacing": "abc"}) is None and pixel_spacing({"PixelSpacing": "0\\0"}) is None


def test_monochrome1_full_range_once_and_unreadable_clears_histogram(qtbot: Any, make_window: Any,
                                                                     tmp_path: Path) -> None:
    folder = tmp_path / "mono1"
    gradient_film(folder, photometric="MONOCHROME1")
    (folder / BROKEN_NAME).write_bytes(b"not an image at all" * 10)
    w = make_window()
    open_and_score(qtbot, w, folder)
    v = w.viewer
    w.select_path(folder / "grid.dcm")
    qtbot.waitUntil(lambda: v.film is not None and v.item is not None and v.item.name == "grid.dcm",
                    timeout=WAIT_MS)
    labels = [v.window_combo.itemText(i) for i in range(v.window_combo.count())]
    assert sum("Full range" in t for t in labels) == 1, labels
    assert "C 3000 / W 4000" in v.window_combo.currentText() and v.levels() == (1000.0, 5000.0)
    x, _ = v.histogram.plot.getData()
    assert x is not None and x.min() >= 0  # stored values, not a negated axis
    assert v.inverted  # MONOCHROME1: low values dense, shown bright through the grey ramp
    w.select_path(folder / BROKEN_NAME)
    qtbot.waitUntil(lambda: "Unreadable" in v.header.text(), timeout=WAIT_MS)
    x, _ = v.histogram.plot.getData()
    assert x is None or len(x) == 0  # the previous film's histogram is gone
