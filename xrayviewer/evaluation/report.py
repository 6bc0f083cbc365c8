"""Score a labelled set through the runtime engine and write the report folder (no Qt in this module).

The folder holds ``index.html`` with PNG figures beside it (``gallery/``, ``features/``), ``metrics.json``
(every number in the page) and ``predictions.csv`` (one row per film, so any number can be recomputed).
Figures that cannot be drawn become a note in the page instead of failing the whole report.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from xrayviewer import NOTICE, __version__
from xrayviewer.common.csv_safety import safe_row
from xrayviewer.common.files import atomic_write
from xrayviewer.common.text import path_text
from xrayviewer.common.vocab import LABELS, Status
from xrayviewer.data.datasets import Dataset, Sample
from xrayviewer.evaluation import images, metrics
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.scoring import FilmResult, score_films
from xrayviewer.scope import ScopeGate, describe_ood, describe_orientation

log = logging.getLogger(__name__)

SPLITS = ("val", "test", "train", "all")
GALLERY_SIZE = 24
FEATURE_FILMS = 2
PREDICTION_COLUMNS = ("path", "label", "subtype", "patient", "split", "probability", "prediction", "correct",
                      "status", "error")


@dataclass
class Scored:
    """One film of the evaluated set: its label and what the model said (or why it could not)."""

    sample: Sample
    status: Status
    probability: float = float("nan")
    cam: np.ndarray | None = None
    error: str = ""
    scope_reason: str = ""  # why the scope gate would refuse it ('' = in scope); the film is still scored

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


@dataclass
class ReportResult:
    index: Path
    metrics: dict[str, Any]
    n_scored: int
    n_failed: int
    notes: list[str] = field(default_factory=list)


def select_samples(dataset: Dataset, split: str, limit: int | None = None, seed: int = 0) -> list[Sample]:
    """The films of one split (or all), optionally a seeded random subset of ``limit`` films.

    A random subset rather than the first N, because readers list films class by class and the first N
    would often hold one class only.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    chosen = list(dataset.samples) if split == "all" else dataset.split(split)
    if limit is not None and 0 < limit < len(chosen):
        keep = sorted(random.Random(seed).sample(range(len(chosen)), limit))
        chosen = [chosen[i] for i in keep]
    return chosen


def score_samples(samples: Sequence[Sample], engine: Engine,
                  on_result: Callable[[FilmResult], None] | None = None) -> list[Scored]:
    """Run the engine over the films (same decoding and batching as ``xrayviewer score``).

    The scope gate runs without withholding calls, so every film is measured and the report can say how
    many of these (labelled chest) films the gate would refuse: its false-refusal rate on this set.
    """
    out = []
    gate = ScopeGate.for_model(engine.card, enforce=False)
    results = score_films([s.path for s in samples], engine, keep_cam=True, gate=gate)
    for sample, r in zip(samples, results, strict=True):
        if r.ok:
            reason = r.scope.reason_text if r.scope is not None else ""
            out.append(Scored(sample, Status.OK, r.probability, r.cam, scope_reason=reason))
        else:
            out.append(Scored(sample, Status.ERROR, error=r.error or "unknown error"))
        if on_result is not None:
            on_result(r)
    return out


def load_history(run_dir: Path | None) -> tuple[list[dict[str, Any]] | None, str]:
    """Per-epoch rows from ``RUN_DIR/history.json`` and a note saying why there are none."""
    if run_dir is None:
        return None, "No training run was given (--run-dir), so there are no training curves."
    path = run_dir / "history.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path} does not exist (the run has not finished an epoch?), so there are no training curves."
    except (OSError, ValueError) as exc:
        return None, f"{path} could not be read ({exc}), so there are no training curves."
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        return None, f"{path} is not a list of per-epoch records, so there are no training curves."
    return data, ""


def display_name(path: Path, root: Path | None) -> str:
    """Path relative to the data root with `/` separators; printable even with undecodable bytes."""
    try:
        rel = path.relative_to(root) if root else path
    except ValueError:
        rel = path
    return path_text(rel.as_posix())


def _safe_file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "x"


def _clear_pngs(folder: Path) -> None:
    """Remove the PNGs a previous report left in our own sub-folder, so stale images never linger."""
    if folder.is_dir():
        for p in folder.glob("*.png"):
            p.unlink(missing_ok=True)


def _write_predictions(path: Path, scored: Sequence[Scored], root: Path | None, threshold: float) -> None:
    with atomic_write(path) as f:
        w = csv.writer(f)
        w.writerow(PREDICTION_COLUMNS)
        for s in scored:
            smp = s.sample
            if s.ok:
                call = int(s.probability >= threshold)
                w.writerow(safe_row([display_name(smp.path, root), LABELS[smp.label], smp.subtype, smp.patient,
                                     smp.split, f"{s.probability:.6f}", LABELS[call], int(call == smp.label),
                                     Status.OK, ""]))
            else:
                w.writerow(safe_row([display_name(smp.path, root), LABELS[smp.label], smp.subtype, smp.patient,
                                     smp.split, "", "", "", Status.ERROR, s.error]))


class _Figures:
    """Draws each plot through :mod:`.plots`, turning any failure (no Qt, a bad value) into a note."""

    def __init__(self, out_dir: Path, notes: list[str]):
        self.out_dir, self.notes = out_dir, notes
        self._plots: Any = None
        self._broken = ""

    def draw(self, file_name: str, what: str, fn_name: str, *args: Any) -> str | None:
        if self._plots is None and not self._broken:
            try:
                from xrayviewer.evaluation import plots

                self._plots = plots
            except Exception as exc:  # Qt can fail to load in many ways (missing libGL, no platform plugin)
                self._broken = f"plots are unavailable (pyqtgraph/Qt could not be loaded: {exc})"
                self.notes.append(self._broken)
        if self._broken:
            return None
        try:
            getattr(self._plots, fn_name)(self.out_dir / file_name, *args)
        except Exception as exc:  # one figure never sinks the report
            log.warning("cannot draw the %s: %s", what, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self.notes.append(f"The {what} could not be drawn: {exc}")
            return None
        return file_name


def _gallery(out_dir: Path, scored: Sequence[Scored], idx: Sequence[int], threshold: float,
             root: Path | None, notes: list[str]) -> list[dict[str, Any]]:
    folder = out_dir / "gallery"
    _clear_pngs(folder)
    items = []
    for rank, i in enumerate(idx, 1):
        s = scored[i]
        name = display_name(s.sample.path, root)
        kind = "false negative" if s.sample.label == 1 else "false positive"
        try:
            if s.cam is None:  # scored without a heat map: nothing to show beside the film
                raise ValueError("the model gave no heat map for it")
            tile = images.gallery_tile(s.sample.path, s.cam, threshold)
            file_name = f"gallery/{rank:02d}.png"
            images.save_png(tile, out_dir / file_name)
        except Exception as exc:  # the film was readable a moment ago; say so and go on
            notes.append(f"No gallery image for {name}: {exc}")
            file_name = None
        items.append({"image": file_name, "name": name, "kind": kind, "probability": s.probability,
                      "label": LABELS[s.sample.label], "subtype": s.sample.subtype})
    return items


def _feature_films(scored: Sequence[Scored], want: int) -> list[int]:
    """The most confidently right pneumonia and normal films (then others): clear examples to look inside."""
    ok = [i for i, s in enumerate(scored) if s.ok]
    pos = sorted((i for i in ok if scored[i].sample.label == 1), key=lambda i: -scored[i].probability)
    neg = sorted((i for i in ok if scored[i].sample.label == 0), key=lambda i: scored[i].probability)
    picks: list[int] = []
    for group in zip(pos, neg, strict=False):
        picks += group
    picks += [i for i in pos + neg if i not in picks]
    return picks[:want]


def _feature_maps(out_dir: Path, engine: Engine, scored: Sequence[Scored], want: int, root: Path | None,
                  notes: list[str]) -> list[dict[str, Any]]:
    from xrayviewer.films import load_film
    from xrayviewer.inference.preprocess import preprocess

    folder = out_dir / "features"
    _clear_pngs(folder)
    names = list(getattr(engine, "feature_names", []))
    if not names:
        notes.append("This model exposes no feature-map outputs (feat_*), so there are no feature maps.")
        return []
    films = []
    for n, i in enumerate(_feature_films(scored, want), 1):
        s = scored[i]
        name = display_name(s.sample.path, root)
        try:
            image = preprocess(load_film(s.sample.path, min_size=engine.input_size).pixels, engine.input_size)
            feats = engine.features(image)
            entry: dict[str, Any] = {"name": name, "label": LABELS[s.sample.label],
                                     "probability": s.probability, "input": f"features/film{n}_input.png",
                                     "depths": []}
            images.save_png(images.model_input(image), out_dir / entry["input"])
            for feat in names:
                fmap = feats[feat]
                file_name = f"features/film{n}_{_safe_file_name(feat)}.png"
                images.save_png(images.feature_grid(fmap), out_dir / file_name)
                entry["depths"].append({"output": feat, "shape": list(fmap.shape), "image": file_name,
                                        "shown": min(images.FEATURE_CHANNELS, fmap.shape[0])})
            films.append(entry)
        except Exception as exc:
            notes.append(f"No feature maps for {name}: {exc}")
    return films


def _dataset_summary(dataset: Dataset) -> str:
    """Films per split and class in the whole source (the reader's own summary also lists zero skips)."""
    parts = []
    for name in ("train", "val", "test"):
        labels = [s.label for s in dataset.split(name)]
        if labels:
            parts.append(f"{name}: {len(labels)} ({labels.count(0)} NORMAL, {labels.count(1)} PNEUMONIA)")
    return "; ".join(parts)


def _card_summary(engine: Engine) -> dict[str, Any]:
    c = engine.card
    return {"id": c.id, "file": engine.path.name, "architecture": c.architecture, "input_size": c.input_size,
            "threshold": c.threshold, "threshold_rule": c.threshold_rule, "val_metrics": dict(c.val_metrics),
            "trained_at": c.trained_at, "intended_use": c.intended_use, "training_data": c.training_data,
            "provider": engine.provider, "scope_gate": describe_ood(getattr(c, "ood", None)),
            "orientation_check": describe_orientation(getattr(c, "orientation", None))}


def _scope_summary(ok: Sequence[Scored]) -> dict[str, Any]:
    """How many of the evaluated films the scope gate would refuse, and why (the films were scored anyway)."""
    refused = [s for s in ok if s.scope_reason]
    reasons = Counter(r.split(" (")[0] for s in refused for r in s.scope_reason.split("; "))
    return {"films": len(ok), "refused": len(refused), "rate": len(refused) / len(ok) if ok else 0.0,
            "reasons": dict(reasons.most_common())}


def write_report(
    out_dir: Path,
    *,
    engine: Engine,
    dataset: Dataset,
    split: str,
    scored: Sequence[Scored],
    data_root: Path | None = None,
    run_dir: Path | None = None,
    limit: int | None = None,
    gallery_size: int = GALLERY_SIZE,
    feature_films: int = FEATURE_FILMS,
    bootstrap_rounds: int = metrics.BOOTSTRAP_ROUNDS,
) -> ReportResult:
    """Write ``index.html``, its PNGs, ``metrics.json`` and ``predictions.csv`` into ``out_dir``.

    Unreadable films are listed and left out of every number.
    """
    from xrayviewer.evaluation import page

    metrics.require_sklearn()
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    threshold = engine.card.threshold
    ok = [s for s in scored if s.ok]
    failed = [s for s in scored if not s.ok]
    y = np.array([s.sample.label for s in ok], dtype=int)
    p = np.array([s.probability for s in ok], dtype=np.float64)
    summary = metrics.summarise(y, p, [s.sample.subtype for s in ok], threshold,
                                bootstrap_rounds=bootstrap_rounds)
    if not metrics.both_classes(y):
        notes.append("This set does not hold both classes, so ROC/PR curves and the AUC are undefined.")
    if split in ("val", "train"):
        notes.append(f"The {split} split was seen during training (val chose the checkpoint and the card "
                     "threshold), so these figures are optimistic; the test split gives an unbiased estimate.")
    curves = summary["curves"]
    conf = summary["confusion"]

    _write_predictions(out_dir / "predictions.csv", scored, data_root, threshold)

    fig = _Figures(out_dir, notes)
    figures: dict[str, str | None] = {"roc": None, "pr": None, "calibration": None, "histogram": None,
                                      "training": None}
    if metrics.both_classes(y):
        points = [(f"card threshold {threshold:.3g}", 1 - conf["specificity"], conf["sensitivity"])]
        if abs(threshold - 0.5) > 1e-9:
            half = metrics.confusion_at(y, p, 0.5)
            points.append(("0.5", 1 - half["specificity"], half["sensitivity"]))
        figures["roc"] = fig.draw("roc.png", "ROC curve", "roc_plot", curves["fpr"], curves["tpr"],
                                  curves["roc_auc"], points)
        figures["pr"] = fig.draw("pr.png", "precision-recall curve", "pr_plot", curves["recall"],
                                 curves["precision"], curves["average_precision"], curves["prevalence"],
                                 (f"card threshold {threshold:.3g}", conf["sensitivity"], conf["ppv"]))
    if len(y):
        cal = summary["calibration"]
        figures["calibration"] = fig.draw("calibration.png", "calibration curve", "calibration_plot",
                                          cal["mean_predicted"], cal["fraction_positive"], cal["count"],
                                          cal["edges"], cal["brier"], cal["ece"])
        figures["histogram"] = fig.draw("histogram.png", "probability histogram", "histogram_plot",
                                        p[y == 0].tolist(), p[y == 1].tolist(), threshold)
    history, history_note = load_history(run_dir)
    training: dict[str, Any] | None = None
    if history:
        figures["training"] = fig.draw("training.png", "training curves", "training_plot", history)
        aucs = [(r.get("val_auc"), r.get("epoch", i + 1)) for i, r in enumerate(history)]
        aucs = [(a, e) for a, e in aucs if isinstance(a, (int, float)) and math.isfinite(a)]
        best = max(aucs) if aucs else None
        training = {"run_dir": str(run_dir), "epochs": len(history),
                    "best_epoch": best[1] if best else None, "best_val_auc": best[0] if best else None,
                    "minutes": sum(float(r.get("seconds", 0) or 0) for r in history) / 60}
    elif run_dir is not None:
        notes.append(history_note)

    wrong = metrics.misclassified(y, p, threshold, gallery_size)
    gallery = _gallery(out_dir, ok, wrong, threshold, data_root, notes)
    features = _feature_maps(out_dir, engine, ok, feature_films, data_root, notes) if ok else []

    selected = Counter(LABELS[s.sample.label] for s in scored)
    result_metrics: dict[str, Any] = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "xrayviewer_version": __version__,
        "notice": NOTICE,
        "model": _card_summary(engine),
        "data": {
            "source": dataset.description, "split": split, "limit": limit,
            "selected": len(scored), "scored": len(ok), "unreadable": len(failed),
            "selected_by_label": dict(selected),
            "scored_by_subtype": dict(Counter(s.sample.subtype or "unspecified" for s in ok)),
            "dataset_summary": _dataset_summary(dataset),
            "skipped_by_reader": {k: v for k, v in dataset.skipped.items() if v},
        },
        **{k: v for k, v in summary.items() if k != "curves"},
        "training": training,
        "unreadable": [{"path": display_name(s.sample.path, data_root), "error": s.error} for s in failed],
        "scope": _scope_summary(ok),
        "misclassified_total": int(conf["fp"] + conf["fn"]),
        "notes": notes,
    }
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics.json_ready(result_metrics), indent=2, allow_nan=False), encoding="utf-8")
    html = page.render(result_metrics, figures=figures, gallery=gallery, features=features,
                       history_note="" if history else history_note)
    index = out_dir / "index.html"
    index.write_text(html, encoding="utf-8")
    return ReportResult(index, result_metrics, len(ok), len(failed), notes)
