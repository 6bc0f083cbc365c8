"""The large film view: pyqtgraph image with zoom/pan, window/level and the evidence heat map on top.

Row-major images in a ViewBox with y inverted show the film upright (row 0 at the top). The CAM covers the
whole squashed model input, i.e. the whole film, so its image item is stretched to the film's rect
(0, 0, W, H) whatever the CAM's own resolution. The overlay's alpha follows the evidence (as in
`xrayviewer.inference.heatmap.overlay`), and the opacity slider scales it.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFont
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


class FilmViewer(QWidget):
    """Large view of the selected film with the model's call, window/level and heat map controls."""

    opacity_changed = Signal(float)
    overlay_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None, opacity: float = 0.45) -> None:
        super().__init__(parent)
        self.film: Film | None = None
        self.item: FilmItem | None = None
        self._display: np.ndarray | None = None
        self._invert = False
        self._show_overlay = True

        self.header = QLabel("No film selected")
        font = QFont(self.header.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.header.setFont(font)
        self.header.setTextFormat(Qt.TextFormat.RichText)
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

        self.histogram = pg.HistogramLUTItem()
        self.histogram.setImageItem(self.image)
        self.graphics.addItem(self.histogram, row=0, col=1)

        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=evidence_colormap(), interactive=False,
                                        width=14, label="evidence for pneumonia (above threshold)",
                                        colorMapMenu=False)
        self.colorbar.axis.setTicks([[(0.0, "none"), (0.5, "+2 logit"), (1.0, "strong")]])
        self.graphics.addItem(self.colorbar, row=0, col=2)

        self.window_combo = QComboBox()
        self.window_combo.setToolTip("Window / level: robust auto range, full range or the film's DICOM "
                                     "presets")
        self.window_combo.currentIndexChanged.connect(self._apply_window)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Zoom to fit the whole film (F)")
        self.fit_button.clicked.connect(self.fit)
        self.overlay_check = QCheckBox("Heat map (H)")
        self.overlay_check.setChecked(True)
        self.overlay_check.toggled.connect(self.set_overlay_enabled)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.setMaximumWidth(160)
        self.opacity_slider.setToolTip("Heat map opacity")
        self.opacity_slider.valueChanged.connect(self._opacity_slider_moved)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Window:"))
        controls.addWidget(self.window_combo, 1)
        controls.addWidget(self.fit_button)
        controls.addSpacing(12)
        controls.addWidget(self.overlay_check)
        controls.addWidget(QLabel("Opacity:"))
        controls.addWidget(self.opacity_slider)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.subheader)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(controls)
        self._fill_window_combo([])

    # -- film -----------------------------------------------------------------------------------------------

    def clear(self, message: str = "No film selected") -> None:
        self.film = None
        self.item = None
        self._display = None
        self.image.clear()
        self.overlay.clear()
        self.overlay.setVisible(False)
        self.header.setText(message)
        self.subheader.setText("")
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
        use_modality = film.modality is not None and bool(film.window_presets)
        photometric = film.meta.get("PhotometricInterpretation", "").upper()
        self._invert = use_modality and photometric == "MONOCHROME1"
        if use_modality:
            data = np.asarray(film.modality, np.float32)
            self._display = -data if self._invert else data
        else:
            self._display = np.asarray(film.pixels)
        self.image.setImage(self._display, autoLevels=False, levels=robust_levels(self._display))
        self.image.setRect(QRectF(0, 0, self._display.shape[1], self._display.shape[0]))
        self._fill_window_combo(film.window_presets if use_modality else [])
        self._apply_window()
        self.update_score(item)
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
            self.header.setText(
                f"<span style='color:{colour}'>Model: {item.prediction}</span>"
                f"&nbsp;&nbsp;{item.probability:.1%} pneumonia probability"
                f"&nbsp;<span style='font-weight:normal;font-size:small'>"
                f"(threshold {item.threshold:.1%})</span>")
        elif item.status == Status.ERROR:
            self.header.setText("<span style='color:#f5a524'>Unreadable film</span>")
        else:
            self.header.setText("<span style='color:#9ca3af'>Not scored yet</span>")
        notes = "; ".join(item.notes or (self.film.notes if self.film else []))
        size = ""
        if self._display is not None:
            size = f"{self._display.shape[1]}×{self._display.shape[0]} px"
        self.subheader.setText(" — ".join(x for x in (item.name, size, notes) if x))
        self._update_overlay()

    def _update_overlay(self) -> None:
        item = self.item
        if self._display is None or item is None or item.cam is None or item.status != Status.OK:
            self.overlay.clear()
            self.overlay.setVisible(False)
            return
        cam = np.asarray(item.cam, np.float32)
        if cam.ndim == 3:
            cam = cam[0]
        self.overlay.setImage(overlay_rgba(cam, item.threshold), autoLevels=False, levels=(0, 255))
        h, w = self._display.shape[:2]
        self.overlay.setRect(QRectF(0, 0, w, h))  # the CAM spans the whole (squashed) film
        self.overlay.setVisible(self._show_overlay)

    def fit(self) -> None:
        if self._display is not None:
            self.view.autoRange(padding=0.01)

    # -- window / level -------------------------------------------------------------------------------------

    def _fill_window_combo(self, presets: list[tuple[float, float, str]]) -> None:
        self.window_combo.blockSignals(True)
        self.window_combo.clear()
        self.window_combo.addItem("Auto (0.5–99.5 %)", AUTO)
        self.window_combo.addItem("Full range", FULL)
        for center, width, label in presets:
            self.window_combo.addItem(f"{label or 'DICOM'} (C {center:g} / W {width:g})", (center, width))
        self.window_combo.setCurrentIndex(2 if presets else 0)  # the file's own first preset if it has one
        self.window_combo.blockSignals(False)

    def _apply_window(self) -> None:
        if self._display is None:
            return
        choice = self.window_combo.currentData()
        if choice == FULL:
            levels = full_levels(self._display)
        elif isinstance(choice, tuple):
            center, width = choice
            lo, hi = center - max(width, 1.0) / 2, center + max(width, 1.0) / 2
            levels = (-hi, -lo) if self._invert else (lo, hi)
        else:
            levels = robust_levels(self._display)
        self.image.setLevels(levels)
        self.histogram.setLevels(*levels)

    def levels(self) -> tuple[float, float]:
        lv = self.image.getLevels()
        return float(lv[0]), float(lv[1])

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
