"""Drift check in use: the model's sensitivity and specificity against the readers' labels, next to the
model card's validation figures, and a site operating threshold proposed from them.

The readers' latest decision per film is the reference (pooled over readers: the most recent decision on
a film counts). Each film's stored probability is judged at the threshold in force now, so a site
threshold, once accepted, is what the figures describe. A site threshold never changes the model file:
it is a row in the agreement log (who, when, on what evidence) and can be reverted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xrayviewer.common.text import format_or_na
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.operating_point import empirical_sensitivity_threshold
from xrayviewer.review.log import PNEUMONIA, AgreementLog, LoggedDecision, SiteThresholdEntry

MIN_PER_CLASS = 30  # labelled films of each class before a site threshold is proposed


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n (sensible for small n and for 0 % or 100 %)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Rate:
    name: str  # "sensitivity" or "specificity"
    k: int
    n: int
    card: float  # the model card's validation figure (NaN when the card has none)

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    @property
    def verdict(self) -> str:
        """'no data', 'consistent', 'lower' or 'higher' than the card (card outside the 95 % interval)."""
        lo, hi = self.interval
        if not self.n or math.isnan(self.card):
            return "no data"
        if self.card > hi:
            return "lower"
        if self.card < lo:
            return "higher"
        return "consistent"

    def sentence(self) -> str:
        if not self.n:
            return f"{self.name}: no films labelled {'PNEUMONIA' if self.name == 'sensitivity' else 'NORMAL'} yet"
        lo, hi = self.interval
        what = {"sensitivity": "pneumonia films", "specificity": "normal films"}[self.name]
        text = (f"{self.name} {self.value:.1%} ({self.k} of {self.n} {what}; 95 % CI {lo:.0%}-{hi:.0%}), "
                f"card {format_or_na(self.card, '.1%')}")
        plain = {
            "consistent": "consistent with the card",
            "lower": ("LOWER than the card: the model misses more pneumonias here than on its validation films"
                      if self.name == "sensitivity" else
                      "LOWER than the card: the model raises more false alarms here than on its validation films"),
            "higher": "higher than the card",
            "no data": "the card gives no validation figure to compare with",
        }[self.verdict]
        return f"{text}: {plain}"


@dataclass(frozen=True)
class DriftReport:
    threshold: float
    threshold_source: str  # "model card" or "site threshold accepted by R on DATE"
    films: int
    sensitivity: Rate
    specificity: Rate

    @property
    def diverges(self) -> bool:
        return "lower" in (self.sensitivity.verdict, self.specificity.verdict)

    def lines(self) -> list[str]:
        head = (f"Model against the readers' labels on {self.films} films, at threshold {self.threshold:.4f} "
                f"({self.threshold_source}):")
        tail = ("The model does NOT perform here as its card says: read its calls with more caution."
                if self.diverges else "No divergence from the card detected.")
        return [head, "  " + self.sensitivity.sentence(), "  " + self.specificity.sentence(), tail]


def reference_labels(decisions: Iterable[LoggedDecision]) -> list[LoggedDecision]:
    """One decision per film: the most recent of any reader (decisions ordered by id)."""
    by_film: dict[str, LoggedDecision] = {}
    for d in sorted(decisions, key=lambda d: d.id):
        by_film[d.sha256] = d
    return list(by_film.values())


def drift_report(decisions: Sequence[LoggedDecision], card: ModelCard, threshold: float,
                 threshold_source: str = "model card") -> DriftReport:
    films = reference_labels(d for d in decisions if d.model_id == card.id and d.in_scope)
    y = np.array([d.decision == PNEUMONIA for d in films], bool)
    called = np.array([d.probability for d in films], float) >= threshold
    sens = Rate("sensitivity", int((called & y).sum()), int(y.sum()), float(card.val_metrics.get("sensitivity",
                                                                                                   math.nan)))
    spec = Rate("specificity", int((~called & ~y).sum()), int((~y).sum()),
                float(card.val_metrics.get("specificity", math.nan)))
    return DriftReport(threshold, threshold_source, len(films), sens, spec)


@dataclass(frozen=True)
class SiteProposal:
    """A site threshold restoring the card's sensitivity on this site's labelled films."""

    model_id: str
    current: float
    proposed: float
    target_sensitivity: float
    films: int
    pneumonia: int
    normal: int
    sensitivity_now: float
    specificity_now: float
    sensitivity_proposed: float
    specificity_proposed: float

    def figures(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def sentence(self) -> str:
        return (f"Site threshold {self.proposed:.4f} (now {self.current:.4f}) restores the card's sensitivity "
                f"{self.target_sensitivity:.1%} on {self.films} labelled films ({self.pneumonia} pneumonia, "
                f"{self.normal} normal): sensitivity {self.sensitivity_now:.1%} -> "
                f"{self.sensitivity_proposed:.1%}, specificity {self.specificity_now:.1%} -> "
                f"{self.specificity_proposed:.1%}.")


class NotEnoughLabels(ValueError):
    """Too few labelled films of a class to propose a site threshold."""


def propose_site_threshold(decisions: Sequence[LoggedDecision], card: ModelCard, current: float,
                           min_per_class: int = MIN_PER_CLASS) -> SiteProposal:
    """The highest threshold keeping the card's validation sensitivity on the readers' labels."""
    films = reference_labels(d for d in decisions if d.model_id == card.id and d.in_scope)
    y = np.array([d.decision == PNEUMONIA for d in films], bool)
    p = np.array([d.probability for d in films], float)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos < min_per_class or neg < min_per_class:
        raise NotEnoughLabels(f"a site threshold needs at least {min_per_class} films of each class labelled by "
                              f"readers; have {pos} pneumonia and {neg} normal")
    target = float(card.val_metrics.get("sensitivity", 0.97))
    proposed = empirical_sensitivity_threshold(y, p, target)

    def rates(t: float) -> tuple[float, float]:
        return float((p[y] >= t).mean()), float((p[~y] < t).mean())

    (sn, spn), (sp, spp) = rates(current), rates(proposed)
    return SiteProposal(card.id, current, round(proposed, 6), target, len(films), pos, neg, sn, spn, sp, spp)


def effective_threshold(card: ModelCard, log: AgreementLog | None) -> tuple[float, str]:
    """(threshold in force, where it comes from): an accepted site threshold, else the card's."""
    entry: SiteThresholdEntry | None = log.site_threshold(card.id) if log is not None else None
    if entry is None or entry.threshold is None:
        return card.threshold, "model card"
    return float(entry.threshold), f"site threshold accepted by {entry.reviewer} on {entry.at_utc[:10]}"


def threshold_from_log(card: ModelCard, log_path: Path | None) -> tuple[float, str, str]:
    """(threshold, source, warning) for a headless run: the site threshold in the agreement log at
    `log_path` (default: the user's log) when one is in force, else the card's. A log that is missing is
    not an error; one that cannot be read gives the card's threshold and a warning saying why."""
    from xrayviewer.review.log import LogError, default_log_path

    path = log_path or default_log_path()
    if not path.exists():
        if log_path is not None:
            return card.threshold, "model card", f"no agreement log at {path}; using the model card's threshold"
        return card.threshold, "model card", ""
    try:
        with AgreementLog(path, readonly=True) as log:
            t, source = effective_threshold(card, log)
    except LogError as exc:
        return card.threshold, "model card", f"{exc}; using the model card's threshold"
    return t, source, ""


def accept(log: AgreementLog, proposal: SiteProposal, reviewer: str) -> SiteThresholdEntry:
    return log.record_site_threshold(proposal.model_id, "accept", proposal.proposed, reviewer, proposal.figures())


def revert(log: AgreementLog, model_id: str, reviewer: str) -> SiteThresholdEntry:
    if log.site_threshold(model_id) is None:
        raise ValueError(f"no site threshold is in force for model {model_id}")
    return log.record_site_threshold(model_id, "revert", None, reviewer)
