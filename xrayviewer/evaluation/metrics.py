"""The report's numbers (numpy + scikit-learn, no Qt), as plain JSON-ready dicts.

Everything takes ``labels`` (0 NORMAL / 1 PNEUMONIA) and ``probs`` (the model's pneumonia probability)
for the readable films only. Quantities that a set cannot define (an AUC with one class, a sensitivity
without positives) are NaN here and ``null`` in ``metrics.json``, never an exception, so a small or
one-sided set still gets a report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from xrayviewer.common.confusion import confusion_at as count_at

#: Targets for the "what would it take" rows of the threshold table.
SENSITIVITY_TARGETS = (0.95, 0.99)
CALIBRATION_BINS = 10
BOOTSTRAP_ROUNDS = 500


class MissingDependency(RuntimeError):
    """scikit-learn is not installed (it ships with the ``report`` extra, not the runtime)."""


def require_sklearn() -> None:
    """Fail early with an install hint instead of an ImportError deep inside the report."""
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            "the evaluation report needs scikit-learn: pip install 'xrayviewer[report]'"
        ) from exc


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n: honest for small n and for rates near 0 or 1."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def both_classes(labels: np.ndarray) -> bool:
    y = np.asarray(labels)
    return y.size > 0 and bool((y == 0).any()) and bool((y == 1).any())


def confusion_at(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, Any]:
    """Counts and the rates a clinician reads at one threshold (called PNEUMONIA when p >= threshold)."""
    c = count_at(labels, probs, threshold)
    return {
        "threshold": float(threshold),
        "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn, "n": c.n,
        "sensitivity": c.sensitivity, "sensitivity_ci95": wilson(c.tp, c.tp + c.fn),
        "specificity": c.specificity, "specificity_ci95": wilson(c.tn, c.tn + c.fp),
        "accuracy": c.accuracy,
        "ppv": c.ppv, "npv": c.npv,
    }


def threshold_for_sensitivity(labels: np.ndarray, probs: np.ndarray, target: float) -> float:
    """The highest threshold reaching ``target`` sensitivity on this set (NaN without positives).

    Same rule as the training pipeline's choice of the card threshold, so the rows are comparable.
    """
    from xrayviewer.data.metrics import sensitivity_first_threshold

    if not np.asarray(labels).astype(bool).any():
        return float("nan")
    return sensitivity_first_threshold(labels, probs, target)


def threshold_table(labels: np.ndarray, probs: np.ndarray, card_threshold: float) -> list[dict[str, Any]]:
    """The trade-off at the card threshold, at 0.5 and at the thresholds this set would need."""
    rows = [("model card threshold", card_threshold), ("0.5", 0.5)]
    for target in SENSITIVITY_TARGETS:
        t = threshold_for_sensitivity(labels, probs, target)
        if math.isfinite(t):
            rows.append((f"sensitivity ≥ {target:.2f} on this set", t))
    merged: list[tuple[str, float]] = []
    for rule, t in rows:  # one row per distinct threshold (e.g. a card threshold of 0.5)
        same = next((i for i, (_, u) in enumerate(merged) if abs(u - t) < 1e-12), None)
        if same is None:
            merged.append((rule, t))
        else:
            merged[same] = (f"{merged[same][0]}; {rule}", t)
    return [{"rule": rule, **confusion_at(labels, probs, t)} for rule, t in merged]


def curves(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """ROC and precision-recall curves with their areas; empty curves when one class is missing."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    y, p = np.asarray(labels).astype(int), np.asarray(probs, dtype=np.float64)
    if not both_classes(y):
        return {"roc_auc": float("nan"), "average_precision": float("nan"), "fpr": [], "tpr": [],
                "roc_thresholds": [], "precision": [], "recall": [], "prevalence": float(y.mean()) if y.size else
                float("nan")}
    fpr, tpr, thr = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    return {
        "roc_auc": float(auc(fpr, tpr)),
        "average_precision": float(average_precision_score(y, p)),
        "fpr": fpr.tolist(), "tpr": tpr.tolist(),
        "roc_thresholds": np.minimum(thr, 1.0).tolist(),  # sklearn's first threshold is +inf
        "precision": precision.tolist(), "recall": recall.tolist(),
        "prevalence": float(y.mean()),
    }


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``scores`` [R, N] against ``labels`` [R, N] (Mann-Whitney, ties averaged).

    Vectorised over rows so a bootstrap costs one sort, not hundreds of sklearn calls. NaN where a row
    holds one class only.
    """
    from scipy.stats import rankdata

    y = np.atleast_2d(labels).astype(bool)
    ranks = rankdata(np.atleast_2d(scores), axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def bootstrap_auc_ci(labels: np.ndarray, probs: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the ROC AUC over film-level bootstrap resamples.

    Gives the reader a sense of how much the AUC of a few hundred films can move by chance.
    """
    y, p = np.asarray(labels).astype(int), np.asarray(probs, dtype=np.float64)
    if not both_classes(y) or rounds < 1:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(y), (rounds, len(y)))
    aucs = rank_auc(y[idx], p[idx])
    aucs = aucs[np.isfinite(aucs)]
    if not aucs.size:
        return float("nan"), float("nan")
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)


def calibration(labels: np.ndarray, probs: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability diagram data on equal-width bins, with the Brier score and expected calibration error.

    Bins match sklearn's ``calibration_curve(strategy="uniform")``; empty bins are kept (as NaN) so the
    counts line up with the bin edges.
    """
    from sklearn.metrics import brier_score_loss

    from xrayviewer.inference.calibration import calibration_bins, expected_calibration_error

    y, p = np.asarray(labels).astype(float), np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    edges, count, mean_p, frac_pos = calibration_bins(y, p, bins)
    ece = expected_calibration_error(y, p, bins)
    return {
        "bins": bins, "edges": edges.tolist(), "count": count.tolist(),
        "mean_predicted": mean_p.tolist(), "fraction_positive": frac_pos.tolist(),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "ece": ece if len(y) else float("nan"),
    }


def per_subtype(labels: np.ndarray, probs: np.ndarray, subtypes: Sequence[str],
                threshold: float) -> list[dict[str, Any]]:
    """Sensitivity per pneumonia subtype (bacteria, virus, ...) and specificity on normals.

    Viral pneumonia is subtler on film than bacterial; an overall sensitivity can hide a weak subtype.
    """
    y, p = np.asarray(labels).astype(int), np.asarray(probs, dtype=np.float64)
    subs = np.array([s or ("normal" if lab == 0 else "unspecified") for s, lab in zip(subtypes, y, strict=True)],
                    dtype=object)
    order = ["normal", "bacteria", "virus"]
    names = order + sorted(set(subs.tolist()) - set(order))
    rows = []
    for name in names:
        mask = subs == name
        n = int(mask.sum())
        if n == 0:
            continue
        positive = bool(y[mask].mean() >= 0.5)  # subtype groups are single-class in every reader we have
        called = p[mask] >= threshold
        k = int(called.sum()) if positive else int((~called).sum())
        rows.append({
            "subtype": name, "n": n, "measure": "sensitivity" if positive else "specificity",
            "value": k / n, "ci95": wilson(k, n), "correct": k,
            "mean_probability": float(p[mask].mean()),
        })
    return rows


def misclassified(labels: np.ndarray, probs: np.ndarray, threshold: float, limit: int) -> list[int]:
    """Indices of wrongly called films, most confidently wrong first (distance from the threshold in logits).

    Ranking in logit space puts a normal at p=0.999 ahead of one at p=0.9 although both are far above a
    0.3 threshold, which probability differences would blur.
    """
    y, p = np.asarray(labels).astype(bool), np.asarray(probs, dtype=np.float64)
    wrong = np.flatnonzero((p >= threshold) != y)

    def lg(x: np.ndarray | float) -> np.ndarray:
        x = np.clip(x, 1e-6, 1 - 1e-6)
        return np.log(x / (1 - x))

    badness = np.abs(lg(p[wrong]) - lg(threshold))
    return wrong[np.argsort(-badness, kind="stable")][:limit].tolist()


def summarise(labels: np.ndarray, probs: np.ndarray, subtypes: Sequence[str], threshold: float, *,
              bootstrap_rounds: int = BOOTSTRAP_ROUNDS) -> dict[str, Any]:
    """All the report's numbers in one dict (NaN where undefined; see :func:`json_ready`)."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    c = curves(y, p)
    return {
        "n": int(len(y)), "n_positive": int(y.sum()), "n_negative": int(len(y) - y.sum()),
        "roc_auc": c["roc_auc"], "roc_auc_ci95": bootstrap_auc_ci(y, p, bootstrap_rounds),
        "average_precision": c["average_precision"],
        "confusion": confusion_at(y, p, threshold),
        "thresholds": threshold_table(y, p, threshold),
        "calibration": calibration(y, p),
        "subtypes": per_subtype(y, p, subtypes, threshold),
        "curves": c,
    }


def json_ready(value: Any) -> Any:
    """Replace NaN/inf with None and tuples/arrays with lists, so json.dumps writes strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
