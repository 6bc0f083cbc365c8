"""Dialogs: the model card, agreement statistics (with the drift check and site threshold) and the feature-map
viewer."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
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
    QPushButton,
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
from xrayviewer.review import LoggedDecision, ReviewError, ReviewStats, compute_stats
from xrayviewer.review.drift import NotEnoughLabels, SiteProposal, drift_report, propose_site_threshold
from xrayviewer.scope import describe_ood, describe_orientation


def _esc(x: Any) -> str:
    return html.escape(str(x))


#: Card keys for developers (training bookkeeping): kept in the card file, not shown to readers.
DEVELOPER_KEYS = ("extra", "feature_outputs", "cam")


@dataclass(frozen=True)
class ThresholdInForce:
    """The operating threshold every call in the app uses, and where it comes from."""

    value: float
    source: str  # "model card" or "site threshold accepted by R on DATE"
    accepted_by: str = ""
    accepted_at: str = ""


def _limits_html(card: ModelCard) -> str:
    limits = list(getattr(card, "limits", []) or [])
    if not limits:
        return ("<h3>Limits</h3><p>This model's card lists no limits: treat every call as unvalidated outside "
                "the training population.</p>")
    return "<h3>Limits — read before use</h3><ul>" + "".join(f"<li>{_esc(x)}</li>" for x in limits) + "</ul>"


def _calibration_text(card: ModelCard) -> str:
    t = float(getattr(card, "temperature", 1.0) or 1.0)
    cal = dict(getattr(card, "calibration", {}) or {})
    if t == 1.0 and not cal:
        return "none: probabilities are the network's raw output (not calibrated)"
    text = f"temperature {t:.3g}"
    if cal.get("method"):
        text += f" ({cal['method']})"
    before, after = cal.get("val_ece_before"), cal.get("val_ece_after")
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        text += f"; expected calibration error on val {before:.3f} before, {after:.3f} after"
    return text


def _borderline_text(card: ModelCard, threshold: float) -> str:
    band = list(getattr(card, "borderline", []) or [])
    if len(band) != 2:
        return "none: this model marks no borderline calls"
    text = f"{band[0]:.1%} to {band[1]:.1%} around the card's threshold: calls in it are marked ≈ borderline"
    if threshold != card.threshold:
        from xrayviewer.inference.calibration import logit, sigmoid

        shift = float(logit(threshold) - logit(card.threshold))
        lo, hi = (float(sigmoid(logit(v) + shift)) for v in band)
        text += f" (moved with the site threshold: {lo:.1%} to {hi:.1%})"
    return text


def card_html(card: ModelCard, path: str = "", provider: str = "", threshold: ThresholdInForce | None = None) -> str:
    """What a reader needs to know about the model: what it is, its limits, how it was made, where its
    threshold is (and who set a site threshold). Developer bookkeeping (:data:`DEVELOPER_KEYS`) is left out."""
    metrics = "".join(f"<tr><td>{_esc(k)}</td><td>{v:.4g}</td></tr>" if isinstance(v, (int, float))
                      else f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
                      for k, v in sorted(card.val_metrics.items()))
    force = threshold or ThresholdInForce(card.threshold, "model card")
    if force.source == "model card":
        in_force = f"{force.value:.4f} — the model card's (PNEUMONIA when probability ≥ threshold)"
    else:
        in_force = (f"{force.value:.4f} — SITE THRESHOLD accepted by {force.accepted_by or '?'} on "
                    f"{force.accepted_at or '?'} (the card's is {card.threshold:.4f}; Review ▸ Statistics "
                    "can revert it)")
    rows = [
        ("Model id", card.id),
        ("Architecture", card.architecture or "—"),
        ("Input", f"{card.input_size}×{card.input_size} grayscale, whole film squashed, min-max scaled"),
        ("Threshold in force", in_force),
        ("Card threshold rule", card.threshold_rule),
        ("Borderline band", _borderline_text(card, force.value)),
        ("Calibration", _calibration_text(card)),
        ("Scope gate (OOD detector)", describe_ood(getattr(card, "ood", None))),
        ("Scope gate (orientation)", describe_orientation(getattr(card, "orientation", None))),
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
    ]
    if path:
        rows.append(("File", path))
    if provider:
        rows.append(("Running on", provider))
    body = "".join(f"<tr><th align='left' valign='top'>{_esc(k)}</th><td>{_esc(v)}</td></tr>"
                   for k, v in rows)
    return (f"<p style='color:#f5a524'><b>{_esc(NOTICE)}</b></p>"
            f"{_limits_html(card)}"
            f"<table cellspacing='6'>{body}</table>"
            f"<h3>Validation metrics</h3><table cellspacing='6'>"
            f"{metrics or '<tr><td>none recorded</td></tr>'}"
            f"</table><p><small>xrayviewer {__version__}</small></p>")


class ModelCardDialog(QDialog):
    def __init__(self, card: ModelCard, path: str = "", provider: str = "",
                 parent: QWidget | None = None, threshold: ThresholdInForce | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card — {card.id}")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(card_html(card, path, provider, threshold))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(760, 600)


@dataclass
class SiteThresholdHooks:
    """What the statistics dialog needs for the drift check and the site threshold (from the main window)."""

    card: ModelCard
    threshold: Callable[[], ThresholdInForce]
    site_decisions: Callable[[], list[LoggedDecision]]  # every study: the evidence for a site threshold
    accept: Callable[[SiteProposal], str]  # records it; returns an error message or ''
    revert: Callable[[], str]


class StatisticsDialog(QDialog):
    """Per reviewer: films, agreement rate, Cohen's kappa and the confusion matrix against the model; then the
    drift check against the card and, once enough films are labelled, a site threshold to accept or revert."""

    COLUMNS = ["Reviewer", "Films", "Agreement", "Cohen's κ", "Rad N / Model N", "Rad N / Model P",
               "Rad P / Model N (missed)", "Rad P / Model P"]

    EXPLAIN = ("Latest decision per film and reviewer. Agreement = share of films where the radiologist's label "
               "equals the model's call. Cohen's κ corrects that for chance (1 = perfect, 0 = chance level, n/a "
               "when undefined). 'Missed' = radiologist PNEUMONIA where the model said NORMAL: the "
               "disagreements that matter most for triage. The ALL row pools every reader's decisions; its "
               "Films column counts distinct films.")

    def __init__(self, decisions: Callable[[bool], list[LoggedDecision]], study_label: str = "",
                 parent: QWidget | None = None, site: SiteThresholdHooks | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Agreement statistics")
        self.decisions = decisions
        self.site = site
        self.proposal: SiteProposal | None = None
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
        self.drift = QLabel()
        self.drift.setWordWrap(True)
        self.drift.setTextFormat(Qt.TextFormat.PlainText)
        self.drift.setObjectName("driftReport")
        self.proposal_label = QLabel()
        self.proposal_label.setWordWrap(True)
        self.proposal_label.setTextFormat(Qt.TextFormat.PlainText)
        self.accept_button = QPushButton("Accept site threshold")
        self.accept_button.clicked.connect(self._accept)
        self.revert_button = QPushButton("Revert to the card's threshold")
        self.revert_button.clicked.connect(self._revert)
        site_buttons = QHBoxLayout()
        site_buttons.addWidget(self.accept_button)
        site_buttons.addWidget(self.revert_button)
        site_buttons.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.only_study)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.explain)
        if site is not None:
            heading = QLabel("<b>Model against the readers (drift check) and site threshold</b>")
            layout.addWidget(heading)
            layout.addWidget(self.drift)
            layout.addWidget(self.proposal_label)
            layout.addLayout(site_buttons)
        layout.addWidget(buttons)
        self.resize(920, 520 if site is not None else 300)
        self.stats: ReviewStats | None = None
        self.refresh()

    def refresh(self) -> None:
        rows_ = self.decisions(self.only_study.isChecked())
        self.stats = compute_stats(rows_)
        films = len({d.sha256 for d in rows_ if d.in_scope})
        out = self.stats.out_of_scope
        self.explain.setText(self.EXPLAIN + (f" In-scope films only: {out} labels on films the scope gate refused "
                                             "(no model call) are not counted." if out else ""))
        self._fill_table(films)
        if self.site is not None:
            self._refresh_site(rows_)

    def _fill_table(self, films: int) -> None:
        assert self.stats is not None
        rows = [*self.stats.per_reviewer, self.stats.overall] if self.stats.overall.n else []
        self.table.setRowCount(len(rows) or 1)
        if not rows:
            self.table.setItem(0, 0, QTableWidgetItem("No decisions in the agreement log yet."))
            for c in range(1, len(self.COLUMNS)):
                self.table.setItem(0, c, QTableWidgetItem(""))
            return
        for i, s in enumerate(rows):
            (nn, np_), (pn, pp) = s.confusion
            n_text = str(s.n) if s.reviewer is not None or films == s.n else f"{films} ({s.n} decisions)"
            values = [s.reviewer if s.reviewer is not None else "ALL reviewers", n_text,
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

    def _refresh_site(self, rows: list[LoggedDecision]) -> None:
        assert self.site is not None
        force = self.site.threshold()
        report = drift_report(rows, self.site.card, force.value, force.source)
        self.drift.setText("\n".join(report.lines()))
        self.proposal = None
        try:
            self.proposal = propose_site_threshold(self.site.site_decisions(), self.site.card, force.value)
        except NotEnoughLabels as exc:
            self.proposal_label.setText(f"No site threshold proposed yet: {exc}.")
        except ReviewError as exc:
            self.proposal_label.setText(f"No site threshold proposed: {exc}")
        else:
            self.proposal_label.setText(self.proposal.sentence() + " Accepting records it in the agreement log "
                                        "under your name; it never changes the model file.")
        self.accept_button.setEnabled(self.proposal is not None
                                      and abs(self.proposal.proposed - force.value) > 1e-9)
        self.revert_button.setEnabled(force.source != "model card")

    def _accept(self) -> None:
        if self.site is None or self.proposal is None:
            return
        error = self.site.accept(self.proposal)
        if error:
            self.proposal_label.setText(f"NOT accepted: {error}")
            return
        self.refresh()

    def _revert(self) -> None:
        if self.site is None:
            return
        error = self.site.revert()
        if error:
            self.proposal_label.setText(f"NOT reverted: {error}")
            return
        self.refresh()


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

        self.layer_box = QComboBox()
        self.layer_box.addItems(engine.feature_names)
        self.layer_box.currentIndexChanged.connect(self.redraw)
        self.channels_box = QSpinBox()
        self.channels_box.setRange(1, 256)
        self.channels_box.setValue(16)
        self.channels_box.setPrefix("first ")
        self.channels_box.setSuffix(" channels")
        self.channels_box.valueChanged.connect(self.redraw)
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
        top.addWidget(self.layer_box)
        top.addWidget(self.channels_box)
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
        name = self.layer_box.currentText()
        maps = self.features.get(name)
        if maps is None:
            return
        image, n = mosaic(maps, self.channels_box.value())
        self.maps_image.setImage(np.nan_to_num(image, nan=0.0), autoLevels=False, levels=(0.0, 1.0))
        self.maps_view.autoRange(padding=0.02)
        c, h, w = maps.shape
        self.info.setText(f"{self.film_name} — left: the model's {self.engine.input_size}×"
                          f"{self.engine.input_size} input (squashed film); right: {name}, "
                          f"showing {n} of {c} channels at {w}×{h}, each scaled to its own range "
                          "(bright = strong activation).")
