"""Metrics and the operating-threshold rule (numpy + scikit-learn; no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score


@dataclass
class BinaryMetrics:
    auc: float
    accuracy: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    threshold: float
    n: int
    n_positive: int

    def as_dict(self) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def safe_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def metrics_at(labels: np.ndarray, probs: np.ndarray, threshold: float) -> BinaryMetrics:
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(probs) >= threshold
    tp, tn = int((pred & y).sum()), int((~pred & ~y).sum())
    fp, fn = int((pred & ~y).sum()), int((~pred & y).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return BinaryMetrics(
        auc=safe_auc(y, probs), accuracy=ratio(tp + tn, len(y)), sensitivity=ratio(tp, tp + fn),
        specificity=ratio(tn, tn + fp), ppv=ratio(tp, tp + fp), npv=ratio(tn, tn + fn),
        threshold=float(threshold), n=len(y), n_positive=int(y.sum()),
    )


def sensitivity_first_threshold(labels: np.ndarray, probs: np.ndarray, min_sensitivity: float) -> float:
    """The highest threshold whose sensitivity is still >= `min_sensitivity`.

    Missing a pneumonia costs more than a false alarm, so sensitivity is fixed first and specificity is
    the best that remains. The threshold is placed halfway to the next lower score so that it does not
    sit exactly on a validation film.
    """
    y = np.asarray(labels).astype(bool)
    pos = np.sort(np.asarray(probs)[y])[::-1]
    if len(pos) == 0:
        raise ValueError("no positive films to set a threshold on")
    k = int(np.ceil(min_sensitivity * len(pos)))  # films that must be called positive
    k = min(max(k, 1), len(pos))
    at = pos[k - 1]
    below = np.asarray(probs)[np.asarray(probs) < at]
    nxt = below.max() if below.size else 0.0
    return float(np.clip((at + nxt) / 2, 1e-6, 1 - 1e-6))
