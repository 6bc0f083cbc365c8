"""Where the model's call flips: the operating-threshold rules and the borderline band. numpy only.

The old rule ("highest threshold keeping validation sensitivity >= 97 %") is set by the few pneumonia
films a confident model scores lowest, so on such models it lands near 0.1 and costs specificity on new
films. The robust rule reads the spread of the pneumonia films' calibrated logits instead (median and
MAD, resistant to those few outliers) and never goes above the threshold that keeps an empirical
sensitivity floor on validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from xrayviewer.data.metrics import sensitivity_first_threshold as empirical_sensitivity_threshold
from xrayviewer.inference.calibration import logit, sigmoid

__all__ = ["OperatingPoint", "borderline_band", "empirical_sensitivity_threshold", "robust_threshold"]


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    rule: str
    parametric: float  # the robust estimate before the empirical floor
    floor: float  # the empirical threshold keeping the sensitivity floor


def robust_threshold(labels: np.ndarray, probs: np.ndarray, target_sensitivity: float = 0.97,
                     floor_sensitivity: float = 0.95) -> OperatingPoint:
    """Threshold at the `target_sensitivity` quantile of a robust normal fit to pneumonia logits.

    Capped by the empirical threshold that keeps `floor_sensitivity` on the films given, so it is never
    less sensitive than that on validation.
    """
    y = np.asarray(labels).astype(bool)
    z = logit(np.asarray(probs, dtype=np.float64))
    pos = z[y]
    if len(pos) < 5:
        raise ValueError("the robust threshold needs at least 5 pneumonia films")
    med = float(np.median(pos))
    sigma = 1.4826 * float(np.median(np.abs(pos - med))) or float(np.std(pos)) or 1.0
    q = NormalDist().inv_cdf(target_sensitivity)
    parametric = float(sigmoid(med - q * sigma))
    floor = empirical_sensitivity_threshold(y, probs, floor_sensitivity)
    threshold = float(np.clip(min(parametric, floor), 1e-6, 1 - 1e-6))
    rule = (f"robust: the {target_sensitivity:.0%} sensitivity point of a normal fit (median, MAD) to the "
            f"pneumonia films' calibrated logits on the validation split, capped so that validation "
            f"sensitivity stays >= {floor_sensitivity:.0%}")
    return OperatingPoint(threshold, rule, parametric, floor)


def borderline_band(threshold: float, half_width_logit: float = 1.0) -> list[float]:
    """[low, high] calibrated probabilities within `half_width_logit` of the threshold (odds within e^w)."""
    t = float(logit(threshold))
    return [round(float(sigmoid(t - half_width_logit)), 6), round(float(sigmoid(t + half_width_logit)), 6)]
