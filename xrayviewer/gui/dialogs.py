"""Dialogs: the model card, agreement statistics and the feature-map viewer."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from xrayviewer import NOTICE, __version__
from xrayviewer.common.text import format_or_na
from xrayviewer.films import Film
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.review import ReviewStats
from xrayviewer.scope import describe_ood


def _esc(x: Any) -> str:
    return html.escape(str(x))


def card_html(card: ModelCard, path: str = "", provider: str = "") -> str:
    """Every card field, so a reader can see what the model is, how it was made and where its threshold is."""
    metrics = "".join(f"<tr><td>{_esc(k)}</td><td>{v:.4g}</td></tr>" if isinstance(v, (int, float))
                      else f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
                      for k, v in sorted(card.val_metrics.items()))
    rows = [
        ("Model id", card.id),
        ("Architecture", card.architecture or "—"),
        ("Input", f"{card.input_size}×{card.input_size} grayscale, whole film squashed, min-max scaled"),
        ("Operating threshold", f"{card.threshold:.4f}  (PNEUMONIA when probability ≥ threshold)"),
        ("Threshold rule", card.threshold_rule),
        ("Scope gate (OOD detector)", describe_ood(getattr(card, "ood", None))),
        ("Intended use", card.intended_use),
        ("Training data", card.training_data),
        ("Data attribution", "Kermany D, Zhang K, Goldbaum M (2018). Labeled Optical Coherence Tomography "
                             "(OCT) and Chest X-Ray Images for Classification. Mendeley Data v2. "
                             "CC BY 4.0. doi:10.17632/rscbjbr9sj.2"),
        ("Data manifest sha256", card.data_manifest_sha256 or "—"),
        ("Training command", card.training_command or "—"),
        ("Seed", card.seed),
        ("Trained at", card.trained_at or "—"),
        ("Training time", f"{card.training_seconds:.0f} s" if card.training_seconds else "—"),
        ("Hardware", card.hardware or "—"),
        ("Heat map", card.cam),
        ("Feature outputs", ", ".join(card.feature_outputs) or "—"),
    ]
    rows += [(f"Extra: {k}", v) for k, v in sorted(card.extra.items())]
    if path:
        rows.append(("File", path))
    if provider:
        rows.append(("Running on", provider))
    body = "".join(f"<tr><th align='left' valign='top'>{_esc(k)}</th><td>{_esc(v)}</td></tr>"
                   for k, v in rows)
    return (f"<p style='color:#f5a524'><b>{_esc(NOTICE)}</b></p>"
            f"<table cellspacing='6'>{body}</table>"
            f"<h3>Validation metrics</h3><table cellspacing='6'>"
            f"{metrics or '<tr><td>none recorded</td></tr>'}"
            f"</table><p><small>xrayviewer {__version__}</small></p>")


class ModelCardDialog(QDialog):
    def __init__(self, card: ModelCard, path: str = "", provider: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card — {card.id}")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(card_html(card, path, provider))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(760, 640)


class StatisticsDialog(QDialog):
    """Per reviewer: films, agreement rate, Cohen's kappa and the confusion matrix against the model."""

    COLUMNS = ["Reviewer", "Films", "Agreement", "Cohen's κ", "Rad N / Model N", "Rad N / Model P",
               "Rad P / Model N (missed)", "Rad P / Model P"]

    EXPLAIN = ("Latest decision per film and reviewer. Agreement = share of films where the radiologist's label "
               "equals the model's call. Cohen's κ corrects that for chance (1 = perfect, 0 = chance level, n/a "
               "when undefined). 'Missed' = radiologist PNEUMONIA where the model said NORMAL: the "
               "disagreements that matter most for triage.")

    def __init__(self, compute: Callable[[bool], ReviewStats], study_label: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Agreement statistics")
        self.compute = compute
        self.only_study = QCheckBox(f"Only this study{f' ({study_label})' if study_label else ''}")
        self.only_study.setChecked(bool(study_label))
        self.only_study.setEnabled(bool(study_label))
        self.only_study.toggled.connect(self.refresh)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.explain = QLabel(self.EXPLAIN)
        self.explain.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.only_study)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.explain)
        layout.addWidget(buttons)
        self.resize(920, 280)
        self.stats: ReviewStats | None = None
        self.refresh()

    def refresh(self) -> None:
        self.stats = self.compute(self.only_study.isChecked())
        out = self.stats.out_of_scope
        self.explain.setText(self.EXPLAIN + (f" In-scope films only: {out} labels on films the scope gate refused "
                                             "(no model call) are not counted." if out else ""))
        rows = [*self.stats.per_reviewer, self.stats.overall] if self.stats.overall.n else []
        self.table.setRowCount(len(rows) or 1)
        if not rows:
            self.table.setItem(0, 0, QTableWidgetItem("No decisions in the agreement log yet."))
            for c in range(1, len(self.COLUMNS)):
                self.table.setItem(0, c, QTableWidgetItem(""))
            return
        for i, s in enumerate(rows):
            (nn, np_), (pn, pp) = s.confusion
            values = [s.reviewer if s.reviewer is not None else "ALL reviewers", str(s.n),
                      format_or_na(s.agreement, ".1%"), format_or_na(s.kappa, ".3f"),
                      str(nn), str(np_), str(pn), str(pp)]
            for c, v in enumerate(values):
                cell = QTableWidgetItem(v)
                if c:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if s.reviewer is None:
                    f = cell.font()
                    f.setBold(True)
                    cell.setFont(f)
                self.table.setItem(i, c, cell)


def mosaic(maps: np.ndarray, count: int, pad: int = 2) -> tuple[np.ndarray, int]:
    """First `count` channels [C, h, w] -> one image, each channel min-max scaled on its own; NaN as gaps."""
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps [C, h, w], got shape {maps.shape}")
    n = max(1, min(count, maps.shape[0]))
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = maps.shape[1:]
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, np.float32)
    for i in range(n):
        m = maps[i]
        lo, hi = float(np.min(m)), float(np.max(m))
        tile = (m - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(m)
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = tile
    return out, n


class FeatureMapDialog(QDialog):
    """Channel activations of the selected film at one depth of the network (first N channels).

    Features are computed off the GUI thread by `submit(fn, on_done, on_error)`; the dialog follows the
    selection while it is open.
    """

    def __init__(self, engine: Engine, submit: Callable[..., None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Feature maps")
        self.engine = engine
        self.submit = submit
        self.features: dict[str, np.ndarray] = {}
        self.film_name = ""
        self._token = 0

        self.depth = QComboBox()
        self.depth.addItems(engine.feature_names)
        self.depth.currentIndexChanged.connect(self.redraw)
        self.count = QSpinBox()
        self.count.setRange(1, 256)
        self.count.setValue(16)
        self.count.setPrefix("first ")
        self.count.setSuffix(" channels")
        self.count.valueChanged.connect(self.redraw)
        self.info = QLabel()
        self.info.setWordWrap(True)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.scene().contextMenu = []
        self.input_view = self.graphics.addViewBox(row=0, col=0)
        self.maps_view = self.graphics.addViewBox(row=0, col=1)
        self.graphics.ci.layout.setColumnStretchFactor(0, 1)
        self.graphics.ci.layout.setColumnStretchFactor(1, 3)
        for v in (self.input_view, self.maps_view):
            v.setAspectLocked(True)
            v.invertY(True)
            v.setMenuEnabled(False)
        self.input_image = pg.ImageItem(axisOrder="row-major")
        self.maps_image = pg.ImageItem(axisOrder="row-major")
        self.maps_image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.input_view.addItem(self.input_image)
        self.maps_view.addItem(self.maps_image)

        top = QHBoxLayout()
        top.addWidget(QLabel("Depth:"))
        top.addWidget(self.depth)
        top.addWidget(self.count)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.graphics, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(980, 560)
        if not engine.feature_names:
            self.info.setText("This model exposes no feature maps.")

    def set_film(self, film: Film | None, name: str = "") -> None:
        """Compute features for `film` in the background (latest request wins)."""
        self._token += 1
        token = self._token
        self.features = {}
        self.film_name = name
        if film is None or not self.engine.feature_names:
            self.input_image.clear()
            self.maps_image.clear()
            self.info.setText("Select a readable film." if self.engine.feature_names
                              else "This model exposes no feature maps.")
            return
        self.info.setText(f"Computing feature maps for {name}…")
        size = self.engine.input_size
        pixels = film.pixels
        engine = self.engine

        def work() -> tuple[np.ndarray, dict[str, np.ndarray]]:
            x = preprocess(pixels, size)
            return x, engine.features(x)

        def done(value: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
            if token != self._token:
                return
            x, self.features = value
            self.input_image.setImage(x, autoLevels=False, levels=(0.0, 1.0))
            self.input_view.autoRange(padding=0.02)
            self.redraw()

        def failed(message: str) -> None:
            if token == self._token:
                self.info.setText(f"Cannot compute feature maps: {message}")

        self.submit(work, done, failed)

    def redraw(self) -> None:
        name = self.depth.currentText()
        maps = self.features.get(name)
        if maps is None:
            return
        image, n = mosaic(maps, self.count.value())
        self.maps_image.setImage(np.nan_to_num(image, nan=0.0), autoLevels=False, levels=(0.0, 1.0))
        self.maps_view.autoRange(padding=0.02)
        c, h, w = maps.shape
        self.info.setText(f"{self.film_name} — left: the model's {self.engine.input_size}×"
                          f"{self.engine.input_size} input (squashed film); right: {name}, "
                          f"showing {n} of {c} channels at {w}×{h}, each scaled to its own range "
                          "(bright = strong activation).")
