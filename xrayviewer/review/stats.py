"""How well the model agrees with the radiologists: agreement rate, Cohen's kappa and the confusion matrix.

Computed on the decisions that count (latest per film and reviewer), on in-scope films only: a film the
scope gate refused had no model call to agree with (its label is counted apart). Pure numpy: scikit-learn is only a
training/report extra, and the tests check this kappa against it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from xrayviewer.common.confusion import count_confusion
from xrayviewer.common.text import format_or_na
from xrayviewer.review.log import LABELS, NORMAL, PNEUMONIA, AgreementLog, LoggedDecision

Confusion = tuple[tuple[int, int], tuple[int, int]]


def confusion_matrix(radiologist: Sequence[str], model: Sequence[str]) -> np.ndarray:
    """2x2 counts: rows = radiologist NORMAL/PNEUMONIA, columns = model NORMAL/PNEUMONIA."""
    if len(radiologist) != len(model):
        raise ValueError("radiologist and model labels differ in length")
    for label in (*radiologist, *model):
        if label not in LABELS:
            raise KeyError(label)
    c = count_confusion([r == PNEUMONIA for r in radiologist], [m == PNEUMONIA for m in model])
    return np.array(c.matrix(), dtype=np.int64)


def kappa_from_confusion(cm: np.ndarray) -> float:
    """Cohen's kappa from a square confusion matrix of two raters.

    kappa = (p_o - p_e) / (1 - p_e): observed agreement p_o corrected for the agreement p_e expected by chance
    from each rater's label frequencies. Raw agreement flatters a model on a skewed case mix (most films
    NORMAL); kappa does not. Computed on integer counts so it is exact; NaN when undefined (no films, or both
    raters gave every film the same single label, p_e = 1), as scikit-learn does.
    """
    cm = np.asarray(cm, dtype=np.int64)
    n = int(cm.sum())
    chance = int(cm.sum(axis=1) @ cm.sum(axis=0))  # p_e * n**2
    if n == 0 or chance == n * n:
        return math.nan
    return (n * int(np.trace(cm)) - chance) / (n * n - chance)


def cohen_kappa(radiologist: Sequence[str], model: Sequence[str]) -> float:
    """Cohen's kappa between radiologist decisions and model calls (labels NORMAL/PNEUMONIA)."""
    return kappa_from_confusion(confusion_matrix(radiologist, model))


@dataclass(frozen=True)
class AgreementStats:
    """Model-vs-radiologist agreement for one reviewer (`reviewer` None: all reviewers pooled)."""

    reviewer: str | None
    confusion: Confusion  # rows = radiologist NORMAL/PNEUMONIA, columns = model NORMAL/PNEUMONIA
    kappa: float  # NaN when undefined

    @property
    def n(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def n_agree(self) -> int:
        return self.confusion[0][0] + self.confusion[1][1]

    @property
    def agreement(self) -> float:
        """Fraction of films where the model call matches the radiologist; NaN with no films."""
        return self.n_agree / self.n if self.n else math.nan

    @property
    def model_missed(self) -> int:
        """Radiologist PNEUMONIA, model NORMAL: the disagreements that matter most for triage."""
        return self.confusion[1][0]

    @property
    def model_overcalled(self) -> int:
        """Radiologist NORMAL, model PNEUMONIA."""
        return self.confusion[0][1]


@dataclass(frozen=True)
class ReviewStats:
    per_reviewer: tuple[AgreementStats, ...]  # sorted by reviewer name
    overall: AgreementStats  # every (film, reviewer) decision pooled
    out_of_scope: int = 0  # (film, reviewer) labels on films the scope gate refused: not in the agreement


def _agreement(reviewer: str | None, rows: Sequence[LoggedDecision]) -> AgreementStats:
    cm = confusion_matrix([r.decision for r in rows], [r.model_call for r in rows])
    confusion: Confusion = ((int(cm[0, 0]), int(cm[0, 1])), (int(cm[1, 0]), int(cm[1, 1])))
    return AgreementStats(reviewer, confusion, kappa_from_confusion(cm))


def compute_stats(decisions: Iterable[LoggedDecision]) -> ReviewStats:
    """Stats over decisions that count, e.g. `AgreementLog.latest()` (it does not de-duplicate)."""
    everything = list(decisions)
    rows = [r for r in everything if r.in_scope]
    by_reviewer: dict[str, list[LoggedDecision]] = {}
    for r in rows:
        by_reviewer.setdefault(r.reviewer, []).append(r)
    per = tuple(_agreement(name, by_reviewer[name]) for name in sorted(by_reviewer))
    return ReviewStats(per, _agreement(None, rows), out_of_scope=len(everything) - len(rows))


def log_stats(log: AgreementLog | str | os.PathLike[str], *, study: str | None = None) -> ReviewStats:
    """Stats of a log (an open one, or a path opened read-only) on the latest decision per film/reviewer."""
    if isinstance(log, AgreementLog):
        return compute_stats(log.latest(study=study))
    with AgreementLog(log, readonly=True) as opened:
        return compute_stats(opened.latest(study=study))


def format_stats(stats: ReviewStats) -> str:
    """Plain-text table for the CLI: one line per reviewer, then all reviewers pooled."""
    if not stats.overall.n:
        if stats.out_of_scope:
            return (f"No decisions on in-scope films; {stats.out_of_scope} labels on out-of-scope films "
                    "(no model call to agree with).")
        return "No decisions in the agreement log."
    header = ("reviewer", "films", "agree", "kappa", "NN", "NP", "PN", "PP")
    lines = [header]
    rows = [*stats.per_reviewer, stats.overall]
    for s in rows:
        (nn, np_), (pn, pp) = s.confusion
        lines.append((s.reviewer if s.reviewer is not None else "ALL", str(s.n), format_or_na(s.agreement, ".1%"),
                      format_or_na(s.kappa, ".3f"), str(nn), str(np_), str(pn), str(pp)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for i, line in enumerate(lines):
        if i in (1, len(lines) - 1):  # under the header, above ALL
            out.append("  ".join("-" * w for w in widths))
        cells = zip(line, widths, strict=True)
        out.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(cells)))
    out.append("")
    out.append(f"Latest decision per film and reviewer. Pairs are radiologist then model "
               f"(N = {NORMAL}, P = {PNEUMONIA}): PN = model missed pneumonia, NP = model over-called.")
    out.append("Kappa = Cohen's kappa, agreement beyond chance (1 perfect, 0 chance level).")
    if stats.out_of_scope:
        out.append(f"In-scope films only: {stats.out_of_scope} labels on films the scope gate refused "
                   "(no model call) are not counted.")
    return "\n".join(out)
