"""The report's plots: pyqtgraph rendered offscreen to PNG. The only module here that touches Qt.

PNG through ``pyqtgraph.exporters.ImageExporter`` (the SVG exporter crashes with our PySide6). Without a
display, Qt's ``offscreen`` platform is selected before Qt is first imported, so this runs headless.
Every function takes plain numbers and a path and returns the path it wrote.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT = 640, 520
_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


def _qt() -> Any:
    """Import pyqtgraph with a QApplication ready, choosing the offscreen platform when headless.

    The platform is read when the QApplication is created (not when Qt is imported), so this also works
    after something else imported PySide6, as long as no application exists yet.
    """
    from PySide6.QtWidgets import QApplication

    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                    or sys.platform in ("win32", "darwin"))
    if headless and QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters  # noqa: F401  (registers ImageExporter)

    pg.mkQApp()
    pg.setConfigOptions(background="w", foreground="k", antialias=True)
    return pg


def _pen(pg: Any, colour: str, width: float = 2.0, dash: bool = False) -> Any:
    from PySide6.QtCore import Qt

    return pg.mkPen(colour, width=width, style=Qt.PenStyle.DashLine if dash else Qt.PenStyle.SolidLine)


def _export(pg: Any, widget: Any, path: Path, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """Lay the plot out at ``size`` and render its scene to PNG at 1:1, so text is not rescaled.

    A widget that is never shown is never laid out by Qt, so the plot item's geometry is set directly.
    """
    from PySide6.QtCore import QRectF

    item = widget.getPlotItem() if hasattr(widget, "getPlotItem") else widget.ci
    widget.resize(*size)
    item.setGeometry(QRectF(0, 0, *size))
    pg.QtWidgets.QApplication.processEvents()
    exporter = pg.exporters.ImageExporter(item)
    exporter.parameters()["width"] = size[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    exporter.export(str(path))
    widget.close()
    widget.deleteLater()
    if not path.is_file():
        raise RuntimeError(f"pyqtgraph wrote no image to {path}")
    return path


def _unit_axes(plot: Any, xlabel: str, ylabel: str) -> None:
    plot.setLabel("bottom", xlabel)
    plot.setLabel("left", ylabel)
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setMouseEnabled(False, False)


def _point(pg: Any, plot: Any, x: float, y: float, colour: str, label: str, symbol: str = "o") -> None:
    plot.addItem(pg.ScatterPlotItem([x], [y], size=12, symbol=symbol, brush=pg.mkBrush(colour),
                                    pen=pg.mkPen("k"), name=label))
    text = pg.TextItem(label, color=colour, anchor=(0, 1))
    text.setPos(x + 0.02, y - 0.02)
    plot.addItem(text)


def roc_plot(path: Path, fpr: Sequence[float], tpr: Sequence[float], auc: float,
             points: Sequence[tuple[str, float, float]]) -> Path:
    """ROC curve; ``points`` are (label, 1 - specificity, sensitivity) operating points to mark."""
    pg = _qt()
    w = pg.PlotWidget(title=f"ROC curve  (AUC {auc:.3f})")
    legend = w.addLegend(offset=(-10, -10))
    w.plot([0, 1], [0, 1], pen=_pen(pg, _GREY, 1, dash=True), name="chance")
    w.plot(list(fpr), list(tpr), pen=_pen(pg, _BLUE, 2.5), name="model")
    for (label, x, y), colour, symbol in zip(points, (_RED, _GREEN, _ORANGE, _GREY), "ostd", strict=False):
        if math.isfinite(x) and math.isfinite(y):
            _point(pg, w, x, y, colour, label, symbol)
    legend.setBrush(pg.mkBrush(255, 255, 255, 220))
    _unit_axes(w, "1 - specificity (false positive rate)", "sensitivity (true positive rate)")
    return _export(pg, w, path)


def pr_plot(path: Path, recall: Sequence[float], precision: Sequence[float], ap: float, prevalence: float,
            point: tuple[str, float, float] | None = None) -> Path:
    """Precision-recall curve; the chance line is the prevalence of pneumonia in this set."""
    pg = _qt()
    w = pg.PlotWidget(title=f"Precision-recall  (AP {ap:.3f})")
    w.addLegend(offset=(-10, -10))
    if math.isfinite(prevalence):
        w.plot([0, 1], [prevalence, prevalence], pen=_pen(pg, _GREY, 1, dash=True),
               name=f"chance (prevalence {prevalence:.2f})")
    w.plot(list(recall), list(precision), pen=_pen(pg, _BLUE, 2.5), name="model", stepMode=None)
    if point and math.isfinite(point[1]) and math.isfinite(point[2]):
        _point(pg, w, point[1], point[2], _RED, point[0])
    _unit_axes(w, "recall (sensitivity)", "precision (PPV)")
    return _export(pg, w, path)


def calibration_plot(path: Path, mean_predicted: Sequence[float], fraction_positive: Sequence[float],
                     count: Sequence[int], edges: Sequence[float], brier: float, ece: float) -> Path:
    """Reliability diagram over a histogram of how many films fall in each probability bin."""
    pg = _qt()
    win = pg.GraphicsLayoutWidget()
    top = win.addPlot(row=0, col=0, title=f"Calibration  (Brier {brier:.3f}, ECE {ece:.3f})")
    top.addLegend(offset=(10, 10))
    top.plot([0, 1], [0, 1], pen=_pen(pg, _GREY, 1, dash=True), name="perfectly calibrated")
    mp, fp = np.asarray(mean_predicted, float), np.asarray(fraction_positive, float)
    keep = np.isfinite(mp) & np.isfinite(fp)
    top.plot(mp[keep], fp[keep], pen=_pen(pg, _BLUE, 2.5), symbol="o", symbolBrush=_BLUE, symbolSize=8,
             name="model")
    _unit_axes(top, "mean predicted probability", "fraction with pneumonia")
    bottom = win.addPlot(row=1, col=0)
    e = np.asarray(edges, float)
    bottom.addItem(pg.BarGraphItem(x0=e[:-1], x1=e[1:], height=np.asarray(count, float),
                                   brush=pg.mkBrush(_BLUE + "99"), pen=pg.mkPen("w")))
    bottom.setXRange(0, 1, padding=0.02)
    bottom.setLabel("left", "films")
    bottom.setLabel("bottom", "predicted probability bin")
    bottom.setMouseEnabled(False, False)
    win.ci.layout.setRowStretchFactor(0, 3)
    win.ci.layout.setRowStretchFactor(1, 1)
    return _export(pg, win, path, (WIDTH, HEIGHT + 120))


def histogram_plot(path: Path, probs_normal: Sequence[float], probs_pneumonia: Sequence[float],
                   threshold: float, bins: int = 20) -> Path:
    """Distribution of the predicted probability per true class, with the card threshold as a line."""
    pg = _qt()
    w = pg.PlotWidget(title="Predicted probability by true class")
    w.addLegend(offset=(-10, 10))
    edges = np.linspace(0, 1, bins + 1)
    for probs, colour, name in ((probs_normal, _GREEN, "NORMAL"), (probs_pneumonia, _RED, "PNEUMONIA")):
        h, _ = np.histogram(np.asarray(probs, float), bins=edges)
        w.plot(edges, h, stepMode="center", fillLevel=0, brush=pg.mkBrush(colour + "55"),
               pen=_pen(pg, colour, 2), name=f"{name} (n={len(probs)})")
    line = pg.InfiniteLine(pos=threshold, angle=90, pen=_pen(pg, "k", 1.5, dash=True),
                           label=f"threshold {threshold:.3g}", labelOpts={"position": 0.9, "color": "k"})
    w.addItem(line)
    w.setXRange(0, 1, padding=0.02)
    w.setLabel("bottom", "predicted pneumonia probability")
    w.setLabel("left", "films")
    w.setMouseEnabled(False, False)
    return _export(pg, w, path, (WIDTH, HEIGHT - 120))


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i, row in enumerate(history):
        v = row.get(key)
        if isinstance(v, (int, float)) and math.isfinite(float(v)):
            xs.append(float(row.get("epoch", i + 1)))
            ys.append(float(v))
    return np.asarray(xs), np.asarray(ys)


def training_plot(path: Path, history: Sequence[dict[str, Any]]) -> Path:
    """Loss, validation AUC and validation sensitivity/specificity per epoch; the best epoch is marked."""
    pg = _qt()
    win = pg.GraphicsLayoutWidget()
    panels = (
        ("Loss", (("train_loss", "train", _BLUE), ("val_loss", "val", _ORANGE)), None),
        ("Validation AUC", (("val_auc", "val AUC", _BLUE),), None),
        ("Validation sensitivity / specificity (at 0.5)",
         (("val_sensitivity", "sensitivity", _RED), ("val_specificity", "specificity", _GREEN)), (0, 1)),
    )
    xa, ya = _series(history, "val_auc")
    best = float(xa[int(np.argmax(ya))]) if len(ya) else None
    for col, (title, series, yrange) in enumerate(panels):
        p = win.addPlot(row=0, col=col, title=title)
        p.addLegend(offset=(-10, 10) if col == 0 else (-10, -36))  # where the curves usually are not
        for key, name, colour in series:
            x, y = _series(history, key)
            if len(x):
                p.plot(x, y, pen=_pen(pg, colour, 2), symbol="o", symbolSize=6, symbolBrush=colour, name=name)
        if best is not None:
            p.addItem(pg.InfiniteLine(pos=best, angle=90, pen=_pen(pg, _GREY, 1, dash=True),
                                      label="best", labelOpts={"position": 0.04, "color": _GREY}))
        if yrange:
            p.setYRange(*yrange, padding=0.05)
        elif title == "Validation AUC":
            p.setLimits(yMin=0.0, yMax=1.005)  # a single epoch would otherwise auto-range past 1
        p.setLabel("bottom", "epoch")
        if len(xa):  # whole epochs only: pyqtgraph would otherwise tick 1.5, 2.5, ...
            step = max(1, math.ceil(len(xa) / 10))
            p.getAxis("bottom").setTicks([[(float(e), str(int(e))) for e in xa[::step]]])
        p.showGrid(x=True, y=True, alpha=0.25)
        p.setMouseEnabled(False, False)
        win.ci.layout.setColumnStretchFactor(col, 1)
    return _export(pg, win, path, (3 * 420, 400))
