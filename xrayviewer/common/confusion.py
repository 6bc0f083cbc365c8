"""The one confusion count: true/false positives/negatives of a yes/no call against the truth.

Used for the model against the labels (training threshold, evaluation report) and for the model against
the radiologist (agreement statistics). "Positive" is always PNEUMONIA. Rates a set cannot define (a
sensitivity without positives) are NaN, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def ratio(a: int, b: int) -> float:
    """a / b, or NaN when b is 0."""
    return a / b if b else float("nan")


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def n_positive(self) -> int:
        """Positive in truth."""
        return self.tp + self.fn

    @property
    def sensitivity(self) -> float:
        return ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return ratio(self.tn, self.tn + self.fp)

    @property
    def accuracy(self) -> float:
        return ratio(self.tp + self.tn, self.n)

    @property
    def ppv(self) -> float:
        return ratio(self.tp, self.tp + self.fp)

    @property
    def npv(self) -> float:
        return ratio(self.tn, self.tn + self.fn)

    def matrix(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """2x2, rows = truth negative/positive, columns = call negative/positive."""
        return (self.tn, self.fp), (self.fn, self.tp)


def count_confusion(truth: Sequence[bool] | np.ndarray, called: Sequence[bool] | np.ndarray) -> Confusion:
    """Count calls against the truth (both boolean, True = positive = PNEUMONIA)."""
    y = np.asarray(truth, dtype=bool)
    c = np.asarray(called, dtype=bool)
    if y.shape != c.shape:
        raise ValueError(f"truth and calls differ in length ({y.size} vs {c.size})")
    return Confusion(tp=int((c & y).sum()), fp=int((c & ~y).sum()), tn=int((~c & ~y).sum()),
                     fn=int((~c & y).sum()))


def confusion_at(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                 threshold: float) -> Confusion:
    """Labels (0/1) against the model's calls at ``threshold`` (PNEUMONIA when p >= threshold)."""
    return count_confusion(np.asarray(labels).astype(bool), np.asarray(probs) >= threshold)
