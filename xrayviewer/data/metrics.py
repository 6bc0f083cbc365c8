"""Metrics at a threshold and the operating-threshold rule (numpy; scikit-learn for the AUC; no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from xrayviewer.common.confusion import confusion_at


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
    from sklearn.metrics import roc_auc_score  # the report/train extras; imported late so this module is light

    return float(roc_auc_score(labels, scores))


def metrics_at(labels: np.ndarray, probs: np.ndarray, threshold: float) -> BinaryMetrics:
    c = confusion_at(labels, probs, threshold)
    return BinaryMetrics(
        auc=safe_auc(np.asarray(labels).astype(bool), probs), accuracy=c.accuracy, sensitivity=c.sensitivity,
        specificity=c.specificity, ppv=c.ppv, npv=c.npv, threshold=float(threshold), n=c.n,
        n_positive=c.n_positive,
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
    k = int(np.ceil(min_sensitivity * len(pos) - 1e-9))  # films that must be called positive (0.97*100 != 97)
    k = min(max(k, 1), len(pos))
    at = pos[k - 1]
    below = np.asarray(probs)[np.asarray(probs) < at]
    nxt = below.max() if below.size else 0.0
    return float(np.clip((at + nxt) / 2, 1e-6, 1 - 1e-6))
