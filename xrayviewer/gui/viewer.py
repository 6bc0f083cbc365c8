"""The large film view: pyqtgraph image with zoom/pan, window/level, reading tools and the evidence heat map.

Row-major images in a ViewBox with y inverted show the film upright (row 0 at the top). The CAM covers the
whole squashed model input, i.e. the whole film, so its image item is stretched to the film's rect
(0, 0, W, H) whatever the CAM's own resolution. The overlay's alpha follows the evidence (as in
`xrayviewer.inference.heatmap.overlay`), and the opacity slider scales it.

Reading tools (OHIF/Weasis habits): invert, rotate by 90 degrees, flip, window/level presets by number,
reset, 1:1 pixel zoom within zoom limits, a pixel-value readout and a distance ruler (mm when the DICOM
gives PixelSpacing or ImagerPixelSpacing). Rotation and flips are applied to the film and its heat map
alike (:class:`Orientation`); the readout and the ruler map what is on screen back to the film's own
pixels. Values are always shown in the film's own units: a MONOCHROME1 film is shown inverted through the
grey ramp (the lookup table), never by negating its values, so the histogram and the presets read the same.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QMouseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from xrayviewer.common.vocab import Label, Status
from xrayviewer.films import Film
from xrayviewer.inference.heatmap import COLORMAPS, cam_to_unit, colormap, upsample
from xrayviewer.review.session import FilmItem

OVERLAY_RES = 256  # the CAM is smoothed to this many cells across before stretching to the film
AUTO, FULL = "auto", "full"
MAX_ZOOM = 16.0  # screen pixels per film pixel at most (zoomed in)
MIN_VIEW_PX = 8  # film pixels across the view at least
MAX_ZOOM_OUT = 6.0  # the view spans at most this many films across...
MAX_VIEW_PX = 4096  # ...or this many film pixels, whichever is more
GREY = {"mode": "rgb", "ticks": [(0.0, (0, 0, 0, 255)), (1.0, (255, 255, 255, 255))]}
GREY_INVERTED = {"mode": "rgb", "ticks": [(0.0, (255, 255, 255, 255)), (1.0, (0, 0, 0, 255))]}
BORDERLINE_COLOUR = "#f5a524"


def robust_levels(arr: np.ndarray) -> tuple[float, float]:
    """0.5-99.5 percentile range from a subsample: fast, and ignores burnt-in labels and collimation."""
    step = max(1, int(math.sqrt(arr.size / 65536)))
    sample = np.asarray(arr[::step, ::step], dtype=np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def full_levels(arr: np.ndarray) -> tuple[float, float]:
    if arr.dtype == np.uint8:
        return 0.0, 255.0
    if arr.dtype == np.uint16:
        return 0.0, 65535.0
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def overlay_rgba(cam: np.ndarray, threshold: float | None) -> np.ndarray:
    """CAM logits -> RGBA uint8 whose alpha is the evidence, via the shared heatmap mapping."""
    unit = cam_to_unit(np.asarray(cam, np.float32), threshold=threshold)
    ch, cw = unit.shape
    scale = max(1, OVERLAY_RES // max(ch, cw))
    smooth = np.clip(upsample(unit, (cw * scale, ch * scale)), 0.0, 1.0)
    rgba = np.empty((*smooth.shape, 4), np.uint8)
    rgba[..., :3] = colormap(smooth)
    rgba[..., 3] = np.rint(smooth * 255).astype(np.uint8)
    return rgba


def evidence_colormap() -> pg.ColorMap:
    lut = COLORMAPS["inferno"]
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut)


def pixel_spacing(meta: dict[str, str]) -> tuple[float, float, str] | None:
    """(row spacing, column spacing, source attribute) in mm from the DICOM attributes, or None.

    PixelSpacing (at the patient) is preferred to ImagerPixelSpacing (at the detector, which includes the
    projection's magnification); the value is ``row\\column``.
    """
    for key in ("PixelSpacing", "ImagerPixelSpacing"):
        text = meta.get(key, "")
        parts = [p for p in text.replace("[", "").replace("]", "").replace(",", "\\").split("\\") if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            continue
        if len(values) == 1:
            values *= 2
        if len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values):
            return values[0], values[1], key
    return None


@dataclass(frozen=True)
class Orientation:
    """How the film is turned on screen: flips first, then ``turns`` quarter turns clockwise."""

    turns: int = 0
    flip_h: bool = False  # mirror left-right
    flip_v: bool = False  # mirror top-bottom

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """The array as shown (first two axes; RGBA overlays keep their last axis)."""
        a = arr
        if self.flip_h:
            a = a[:, ::-1]
        if self.flip_v:
            a = a[::-1, :]
        return np.ascontiguousarray(np.rot90(a, k=-(self.turns % 4), axes=(0, 1)))

    def to_source(self, row: float, col: float, shape: tuple[int, int]) -> tuple[float, float]:
        """A point on screen (continuous row/col in the shown array) -> the same point in the film.

        ``shape`` is the film's (rows, columns). Pixel (r, c) covers [r, r+1) x [c, c+1).
        """
        h, w = shape
        cur_h, cur_w = (h, w) if self.turns % 2 == 0 else (w, h)
        for _ in range(self.turns % 4):  # undo one clockwise turn: shown (r, c) came from (cur_w - c, r)
            row, col = cur_w - col, row
            cur_h, cur_w = cur_w, cur_h
        if self.flip_v:
            row = h - row
        if self.flip_h:
            col = w - col
        return row, col

    def pixel_to_source(self, row: int, col: int, shape: tuple[int, int]) -> tuple[int, int]:
        """The film pixel shown at integer screen-array index (row, col)."""
        r, c = self.to_source(row + 0.5, col + 0.5, shape)
        return int(math.floor(r)), int(math.floor(c))


class FilmViewer(QWidget):
    """Large view of the selected film with the model's call, window/level, reading tools and heat map."""

    opacity_changed = Signal(float)
    overlay_toggled = Signal(bool)
    measured = Signal(str)  # the ruler's length, as text

    def __init__(self, parent: QWidget | None = None, opacity: float = 0.45) -> None:
        super().__init__(parent)
        self.film: Film | None = None
        self.item: FilmItem | None = None
        self._source: np.ndarray | None = None  # the film's values (modality units for DICOM), unturned
        self._display: np.ndarray | None = None  # what is on screen (turned and flipped)
        self._auto_levels = (0.0, 1.0)  # robust levels of the display
        self._overlay_key: tuple[Any, float, Orientation] | None = None  # what the overlay shows now
        self._mono1 = False  # MONOCHROME1: low values are dense (shown bright)
        self._user_invert = False
        self.orientation = Orientation()
        self._show_overlay = True
        self.spacing: tuple[float, float, str] | None = None
        self.ruler: pg.LineSegmentROI | None = None
        self.ruler_text = pg.TextItem("", color="#fde047", anchor=(0, 1))
        self.ruler_text.setZValue(30)

        self.header = QLabel("No film selected")
        font = QFont(self.header.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.header.setFont(font)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)  # a long call (borderline, site threshold) must not widen the window
        self.header.setObjectName("callHeader")
        self.subheader = QLabel("")
        self.subheader.setWordWrap(True)
        self.subheader.setObjectName("callSubheader")

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.scene().contextMenu = []  # no "Export..." entry: SVG export crashes with PySide6
        self.view = self.graphics.addViewBox(row=0, col=0)
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self.view.setBackgroundColor("#000000")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.overlay.setOpacity(opacity)
        self.overlay.setVisible(False)
        self.view.addItem(self.image)
        self.view.addItem(self.overlay)
        self.view.addItem(self.ruler_text)
        self.ruler_text.setVisible(False)

        self.histogram = pg.HistogramLUTItem()
        self.histogram.setImageItem(self.image)
        self.graphics.addItem(self.histogram, row=0, col=1)

        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=evidence_colormap(), interactive=False,
                                        width=14, label="evidence for pneumonia (above threshold)",
                                        colorMapMenu=False)
        self.colorbar.axis.setTicks([[(0.0, "none"), (0.5, "+2 logit"), (1.0, "strong")]])
        self.graphics.addItem(self.colorbar, row=0, col=2)
        # Every mouse move on the viewport (pyqtgraph's scene signal drops moves closer together than a screen
        # refresh, so the readout could stay on a pixel the mouse has already left).
        self.graphics.viewport().installEventFilter(self)

        self.window_combo = QComboBox()
        self.window_combo.setToolTip("Window / level (keys 1-9): robust auto range, full range or the film's "
                                     "DICOM presets")
        self.window_combo.currentIndexChanged.connect(self._apply_window)
        self.window_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Zoom to fit the whole film (F)")
        self.fit_button.clicked.connect(self.fit)
        self.fit_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overlay_check = QCheckBox("Heat map (H)")
        self.overlay_check.setChecked(True)
        self.overlay_check.toggled.connect(self.set_overlay_enabled)
        self.overlay_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.setMaximumWidth(120)
        self.opacity_slider.setToolTip("Heat map opacity")
        self.opacity_slider.valueChanged.connect(self._opacity_slider_moved)
        self.opacity_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.readout = QLabel("")
        self.readout.setObjectName("pixelReadout")
        self.readout.setMinimumWidth(10)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Window:"))
        controls.addWidget(self.window_combo, 1)
        controls.addWidget(self.fit_button)
        controls.addSpacing(8)
        controls.addWidget(self.overlay_check)
        controls.addWidget(QLabel("Opacity:"))
        controls.addWidget(self.opacity_slider)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.subheader)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        layout.addLayout(controls)
        self._fill_window_combo([])

    # -- film -----------------------------------------------------------------------------------------------

    def clear(self, message: str = "No film selected") -> None:
        self.film = None
        self.item = None
        self._source = None
        self._display = None
        self._overlay_key = None
        self.spacing = None
        self.image.clear()
        self.histogram.plot.setData([], [])  # an unreadable film must not keep the previous histogram
        self.overlay.clear()
        self.overlay.setVisible(False)
        self.remove_ruler()
        self.header.setText(message)
        self.subheader.setText("")
        self.readout.setText("")
        self._fill_window_combo([])

    def show_error(self, item: FilmItem, message: str) -> None:
        self.clear()
        self.item = item
        self.header.setText("<span style='color:#f5a524'>Unreadable film</span>")
        self.subheader.setText(f"{item.name}: {message}")

    def set_film(self, film: Film, item: FilmItem) -> None:
        """Show a decoded film (full resolution) with the item's score and CAM."""
        self.film = film
        self.item = item
        self.remove_ruler()
        use_modality = film.modality is not None and bool(film.window_presets)
        photometric = film.meta.get("PhotometricInterpretation", "").upper()
        self._mono1 = use_modality and photometric == "MONOCHROME1"
        self._source = np.asarray(film.modality if use_modality else film.pixels)
        if use_modality:
            self._source = self._source.astype(np.float32, copy=False)
        self.spacing = pixel_spacing(film.meta)
        self._fill_window_combo(film.window_presets if use_modality else [])
        self._redraw()
        self.update_score(item)

    def _redraw(self) -> None:
        """Show the source through the current orientation; levels, LUT and overlay follow."""
        if self._source is None:
            return
        self._display = self.orientation.apply(self._source)
        self._auto_levels = robust_levels(self._display)  # once per drawing: the window presets reuse it
        self.image.setImage(self._display, autoLevels=False, levels=self._auto_levels)
        self.image.setRect(QRectF(0, 0, self._display.shape[1], self._display.shape[0]))
        self._apply_lut()
        self._apply_window()
        self._set_limits()
        self._update_overlay()
        self.fit()

    def update_score(self, item: FilmItem) -> None:
        """Refresh header and overlay (a result may arrive while the film is already shown)."""
        self.item = item
        if item.out_of_scope:  # no model call and no heat map: say why instead
            self.header.setText(
                "<span style='color:#94a3b8'>Out of scope: not judged by the model</span>"
                f"&nbsp;<span style='font-weight:normal;font-size:small'>({html.escape(item.scope_reason)})</span>")
        elif item.status == Status.OK:
            colour = "#e5484d" if item.prediction == Label.PNEUMONIA else "#30a46c"
            borderline = (f"&nbsp;<span style='color:{BORDERLINE_COLOUR}'>≈ borderline</span>"
                          if item.borderline else "")
            self.header.setText(
                f"<span style='color:{colour}'>Model: {item.prediction}</span>{borderline}"
                f"&nbsp;&nbsp;{item.probability:.1%} pneumonia probability"
                f"&nbsp;<span style='font-weight:normal;font-size:small'>"
                f"(threshold {item.threshold:.1%})</span>")
        elif item.status == Status.ERROR:
            self.header.setText("<span style='color:#f5a524'>Unreadable film</span>")
        else:
            self.header.setText("<span style='color:#9ca3af'>Not scored yet</span>")
        notes = "; ".join(item.notes or (self.film.notes if self.film else []))
        size = ""
        if self._source is not None:
            size = f"{self._source.shape[1]}×{self._source.shape[0]} px"
        borderline = "borderline: close to the threshold, read with extra care" if item.borderline else ""
        self.subheader.setText(" — ".join(x for x in (item.name, size, borderline, notes) if x))
        self._update_overlay()

    def _update_overlay(self) -> None:
        item = self.item
        if self._display is None or item is None or item.cam is None or item.status != Status.OK:
            self._overlay_key = None
            self.overlay.clear()
            self.overlay.setVisible(False)
            return
        # a film is drawn, then its score shown: one colouring, not two (the key holds the CAM itself)
        shown = self._overlay_key
        if shown is None or shown[0] is not item.cam or shown[1:] != (item.threshold, self.orientation):
            cam = np.asarray(item.cam, np.float32)
            if cam.ndim == 3:
                cam = cam[0]
            self.overlay.setImage(self.orientation.apply(overlay_rgba(cam, item.threshold)), autoLevels=False,
                                  levels=(0, 255))
            self._overlay_key = (item.cam, item.threshold, self.orientation)
        h, w = self._display.shape[:2]
        self.overlay.setRect(QRectF(0, 0, w, h))  # the CAM spans the whole (squashed) film
        self.overlay.setVisible(self._show_overlay)

    # -- zoom -----------------------------------------------------------------------------------------------

    def fit(self) -> None:
        if self._display is not None:
            self.view.autoRange(padding=0.01)

    def _set_limits(self) -> None:
        if self._display is None:
            return
        h, w = self._display.shape[:2]
        widest = max(MAX_ZOOM_OUT * max(w, h), MAX_VIEW_PX)  # a small film can still be seen 1:1
        self.view.setLimits(minXRange=MIN_VIEW_PX, minYRange=MIN_VIEW_PX, maxXRange=widest, maxYRange=widest)

    def zoom_one_to_one(self) -> None:
        """One film pixel per screen pixel, around the centre of what is shown now."""
        if self._display is None:
            return
        ratio = self.devicePixelRatioF() or 1.0
        width, height = self.view.width() * ratio, self.view.height() * ratio
        centre = self.view.viewRect().center()
        self.view.setRange(QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height), padding=0)

    def screen_pixels_per_film_pixel(self) -> float:
        """The zoom now (1.0 = 1:1)."""
        px = self.view.viewPixelSize()[0]
        return (1.0 / px) / (self.devicePixelRatioF() or 1.0) if px else math.nan

    # -- orientation and inversion ----------------------------------------------------------------------------

    def rotate(self, quarter_turns: int = 1) -> None:
        """Turn the film (and its heat map) clockwise by 90 degrees per turn (negative: anticlockwise)."""
        o = self.orientation
        self.orientation = Orientation((o.turns + quarter_turns) % 4, o.flip_h, o.flip_v)
        self.remove_ruler()
        self._redraw()

    def flip(self, horizontal: bool = True) -> None:
        """Mirror the film as shown: left-right, or top-bottom."""
        o = self.orientation
        if o.turns % 2:  # mirroring what is on screen: a turned film's screen axes are its other axes
            horizontal = not horizontal
        self.orientation = Orientation(o.turns, o.flip_h ^ horizontal, o.flip_v ^ (not horizontal))
        self.remove_ruler()
        self._redraw()

    def toggle_invert(self) -> None:
        self._user_invert = not self._user_invert
        self._apply_lut()

    @property
    def inverted(self) -> bool:
        """Whether dense (high value) is shown dark: the user's invert, on top of MONOCHROME1's own."""
        return self._user_invert != self._mono1

    def _apply_lut(self) -> None:
        self.histogram.gradient.restoreState(GREY_INVERTED if self.inverted else GREY)

    def reset_view(self) -> None:
        """Back to how the film opened: no turn, flip or invert, the first window preset, fitted."""
        self.orientation = Orientation()
        self._user_invert = False
        self.remove_ruler()
        if self.window_combo.count():
            self.window_combo.setCurrentIndex(self._default_window)
        self._redraw()

    # -- window / level -------------------------------------------------------------------------------------

    def _fill_window_combo(self, presets: list[tuple[float, float, str]]) -> None:
        self.window_combo.blockSignals(True)
        self.window_combo.clear()
        self.window_combo.addItem("1  Auto (0.5–99.5 %)", AUTO)
        self.window_combo.addItem("2  Full range", FULL)
        seen = set()
        for center, width, label in presets:
            if (label or "").strip().lower() == "full range" or (center, width) in seen:
                continue  # the decoder's own "Full range" is the entry above
            seen.add((center, width))
            key = self.window_combo.count() + 1
            prefix = f"{key}  " if key <= 9 else ""
            self.window_combo.addItem(f"{prefix}{label or 'DICOM'} (C {center:g} / W {width:g})", (center, width))
        self._default_window = 2 if self.window_combo.count() > 2 else 0  # the file's own first preset
        self.window_combo.setCurrentIndex(self._default_window)
        self.window_combo.blockSignals(False)

    def apply_preset(self, number: int) -> bool:
        """Window preset ``number`` (1 = auto, 2 = full range, 3-9 the film's presets); False if none."""
        if not 1 <= number <= min(9, self.window_combo.count()):
            return False
        self.window_combo.setCurrentIndex(number - 1)
        return True

    def _apply_window(self) -> None:
        if self._display is None:
            return
        choice = self.window_combo.currentData()
        if choice == FULL:
            levels = full_levels(self._display)
        elif isinstance(choice, tuple):
            center, width = choice
            levels = (center - max(width, 1e-6) / 2, center + max(width, 1e-6) / 2)
        else:
            levels = self._auto_levels
        self.image.setLevels(levels)
        self.histogram.setLevels(*levels)

    def levels(self) -> tuple[float, float]:
        lv = self.image.getLevels()
        return float(lv[0]), float(lv[1])

    def shown_grey(self) -> np.ndarray:
        """What the screen shows, as grey in [0, 1] per pixel of the shown array (levels and invert applied)."""
        if self._display is None:
            return np.zeros((0, 0), np.float32)
        lo, hi = self.levels()
        grey = np.clip((np.asarray(self._display, np.float32) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
        return 1.0 - grey if self.inverted else grey

    # -- pixel readout and ruler ------------------------------------------------------------------------------

    def value_at(self, row: int, col: int) -> tuple[int, int, float] | None:
        """(film row, film column, value in the film's units) under shown-array index (row, col), or None."""
        if self._display is None or self._source is None:
            return None
        h, w = self._display.shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            return None
        r, c = self.orientation.pixel_to_source(row, col, self._source.shape[:2])
        return r, c, float(self._source[r, c])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if isinstance(event, QMouseEvent) and event.type() == QEvent.Type.MouseMove \
                and watched is self.graphics.viewport():
            self._mouse_moved(QPointF(self.graphics.mapToScene(event.position().toPoint())))
        return super().eventFilter(watched, event)

    def _mouse_moved(self, pos: QPointF) -> None:
        if self._display is None or not self.view.sceneBoundingRect().contains(pos):
            return
        point = self.view.mapSceneToView(pos)
        hit = self.value_at(int(math.floor(point.y())), int(math.floor(point.x())))
        if hit is None:
            self.readout.setText("")
            return
        r, c, value = hit
        units = "stored value" if self.film is not None and self.film.modality is not None else "grey value"
        self.readout.setText(f"x {c}, y {r}: {value:g} ({units})")

    def toggle_ruler(self) -> None:
        if self.ruler is not None:
            self.remove_ruler()
        else:
            self.add_ruler()

    def add_ruler(self, start: tuple[float, float] | None = None, end: tuple[float, float] | None = None) -> None:
        """A two-handle distance ruler; points are (x, y) on the shown film (default: across its middle)."""
        if self._display is None:
            return
        self.remove_ruler()
        h, w = self._display.shape[:2]
        a = start or (w * 0.3, h * 0.5)
        b = end or (w * 0.7, h * 0.5)
        self.ruler = pg.LineSegmentROI([a, b], pen=pg.mkPen("#fde047", width=2))
        self.ruler.setZValue(20)
        self.view.addItem(self.ruler)
        self.ruler.sigRegionChanged.connect(self._measure)
        self.ruler_text.setVisible(True)
        self._measure()

    def remove_ruler(self) -> None:
        if self.ruler is not None:
            self.view.removeItem(self.ruler)
            self.ruler = None
        self.ruler_text.setVisible(False)

    def ruler_points(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        if self.ruler is None:
            return None
        handles = self.ruler.getSceneHandlePositions()
        pts = [self.view.mapSceneToView(pos) for _, pos in handles]
        return (pts[0].x(), pts[0].y()), (pts[1].x(), pts[1].y())

    def distance(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, str]:
        """Length between two shown points (x, y): (value, unit), in mm when the film gives its spacing."""
        assert self._source is not None
        shape = self._source.shape[:2]
        ra, ca = self.orientation.to_source(a[1], a[0], shape)
        rb, cb = self.orientation.to_source(b[1], b[0], shape)
        dr, dc = rb - ra, cb - ca
        if self.spacing is None:
            return math.hypot(dr, dc), "px"
        row_mm, col_mm, _ = self.spacing
        scale = self._spacing_scale()
        return math.hypot(dr * row_mm * scale[0], dc * col_mm * scale[1]), "mm"

    def _spacing_scale(self) -> tuple[float, float]:
        """Spacing is per stored pixel: a film decoded at another size scales it (Rows/Columns)."""
        assert self._source is not None and self.film is not None
        try:
            rows, cols = int(self.film.meta.get("Rows", "")), int(self.film.meta.get("Columns", ""))
        except ValueError:
            return 1.0, 1.0
        h, w = self._source.shape[:2]
        return (rows / h if h else 1.0), (cols / w if w else 1.0)

    def _measure(self) -> None:
        pts = self.ruler_points()
        if pts is None or self._source is None:
            return
        value, unit = self.distance(*pts)
        text = f"{value:.1f} mm" if unit == "mm" else f"{value:.0f} px (no pixel spacing in this film)"
        if unit == "mm" and self.spacing is not None and self.spacing[2] == "ImagerPixelSpacing":
            text += " at the detector"
        self.ruler_text.setText(text)
        self.ruler_text.setPos(*pts[1])
        self.measured.emit(text)

    # -- overlay --------------------------------------------------------------------------------------------

    def set_overlay_enabled(self, on: bool) -> None:
        self._show_overlay = bool(on)
        if self.overlay_check.isChecked() != self._show_overlay:
            self.overlay_check.setChecked(self._show_overlay)
        has_cam = self.overlay.image is not None and self.item is not None and self.item.cam is not None
        self.overlay.setVisible(self._show_overlay and has_cam)
        self.overlay_toggled.emit(self._show_overlay)

    def toggle_overlay(self) -> None:
        self.set_overlay_enabled(not self._show_overlay)

    @property
    def overlay_enabled(self) -> bool:
        return self._show_overlay

    def _opacity_slider_moved(self, value: int) -> None:
        self.overlay.setOpacity(value / 100.0)
        self.opacity_changed.emit(value / 100.0)

    def set_opacity(self, opacity: float) -> None:
        self.opacity_slider.setValue(round(min(1.0, max(0.0, opacity)) * 100))

    def overlay_rect(self) -> QRectF:
        """Where the heat map lies in film pixel coordinates (tests check it equals the film)."""
        return self.overlay.mapRectToParent(self.overlay.boundingRect())
