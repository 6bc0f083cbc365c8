"""Probabilities that mean what they say: temperature (Platt) scaling, calibration error, reliability.

The network's logit z becomes z / T + b, with the temperature T and bias b fitted on validation films
(card ``temperature`` and ``bias``); the engine applies it, so every probability the app and the CLI show
is the calibrated one. The bias matters: a network trained with class-balanced weights (or mixup) is
shifted, not only over-confident, and a temperature alone cannot move its probabilities back. numpy only.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def logit(p: np.ndarray | float, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def nll(labels: np.ndarray, logits: np.ndarray, temperature: float) -> float:
    """Mean binary cross-entropy of sigmoid(logits / T) (numerically stable)."""
    y = np.asarray(labels, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64) / temperature
    return float(np.mean(np.logaddexp(0, z) - y * z))


def fit_temperature(labels: np.ndarray, logits: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature minimising validation NLL (1-D, convex in log T: golden-section search)."""
    y = np.asarray(labels)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("temperature scaling needs validation films of both classes")
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(80):
        if nll(y, logits, np.exp(c)) < nll(y, logits, np.exp(d)):
            b, d = d, c
            c = b - g * (b - a)
        else:
            a, c = c, d
            d = a + g * (b - a)
    return float(np.exp((a + b) / 2))


#: Weak pull of (1/T, b) towards (1, 0): on separable validation films the NLL has no minimum (the slope
#: runs off to infinity); this keeps the fit finite without moving it on real, overlapping scores.
PLATT_RIDGE = 1e-3


def nll_affine(labels: np.ndarray, logits: np.ndarray, scale: float, bias: float,
               ridge: float = PLATT_RIDGE) -> float:
    y = np.asarray(labels, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64) * scale + bias
    return float(np.mean(np.logaddexp(0, z) - y * z)) + ridge / 2 * ((scale - 1) ** 2 + bias**2)


def fit_platt(labels: np.ndarray, logits: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(temperature, bias) minimising validation NLL of sigmoid(z / T + b): Newton's method on (1/T, b)."""
    y = np.asarray(labels, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("Platt scaling needs validation films of both classes")
    prior = np.array([1.0, 0.0])
    w = prior.copy()
    x = np.stack([z, np.ones_like(z)], axis=1)
    for _ in range(iterations):
        p = sigmoid(x @ w)
        grad = x.T @ (p - y) / len(y) + PLATT_RIDGE * (w - prior)
        hess = (x * (p * (1 - p))[:, None]).T @ x / len(y) + PLATT_RIDGE * np.eye(2)
        step = np.linalg.solve(hess, grad)
        # damped: halve the step until the loss does not rise (Newton can overshoot on separable data)
        t, base = 1.0, nll_affine(y, z, *w)
        while t > 1e-4 and nll_affine(y, z, *(w - t * step)) > base:
            t /= 2
        w = w - t * step
        if np.abs(t * step).max() < 1e-10:
            break
    if w[0] <= 0:
        raise ValueError("Platt scaling found no positive slope: the scores do not separate the classes")
    return float(1 / w[0]), float(w[1])


def calibration_bins(labels: np.ndarray, probs: np.ndarray, bins: int = 10
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(edges, films, mean predicted probability, observed pneumonia fraction) on equal-width bins.

    Films are assigned to bins exactly as scikit-learn's ``calibration_curve(strategy="uniform")`` does;
    empty bins give NaN means, so the arrays line up with the edges.
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, np.bincount(which, weights=p, minlength=bins) / np.maximum(count, 1), np.nan)
        frac = np.where(count > 0, np.bincount(which, weights=y, minlength=bins) / np.maximum(count, 1), np.nan)
    return edges, count, mean_p, frac


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width probability bin: films, mean predicted probability, observed pneumonia fraction."""
    edges, count, mean_p, frac = calibration_bins(labels, probs, bins)
    return [{"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(count[b]),
             "mean_probability": float(mean_p[b]), "observed": float(frac[b])} for b in range(bins)]


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """ECE: the film-weighted mean gap between predicted probability and observed frequency per bin."""
    _, count, mean_p, frac = calibration_bins(labels, probs, bins)
    filled = count > 0
    if not filled.any():
        return float("nan")
    return float(np.sum(count[filled] * np.abs(frac[filled] - mean_p[filled])) / count.sum())
