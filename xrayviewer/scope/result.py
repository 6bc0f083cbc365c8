"""A scope verdict: is a film something the model may judge, and if not, why (in words for people)."""

from __future__ import annotations

from dataclasses import dataclass

OUT_OF_SCOPE = "OUT_OF_SCOPE"
"""The prediction written for a film the gate refused (no probability, no heat map)."""


@dataclass(frozen=True)
class Scope:
    """What the gate found. A film is in scope when no check gave a reason to refuse it.

    ``reasons`` refuse the film; ``warnings`` are soft flags (e.g. patient age) that never refuse it.
    ``ood_score``/``ood_cutoff`` are set once the model's embedding has been checked.
    """

    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    ood_score: float | None = None
    ood_cutoff: float | None = None

    @property
    def in_scope(self) -> bool:
        return not self.reasons

    @property
    def label(self) -> str:
        """``in`` or ``out``: the CSV's ``scope`` column."""
        return "in" if self.in_scope else "out"

    @property
    def reason_text(self) -> str:
        """All reasons in one cell, most decisive first."""
        return "; ".join(self.reasons)

    @property
    def warning_text(self) -> str:
        return "; ".join(self.warnings)

    def plus(self, other: Scope) -> Scope:
        """Both verdicts' reasons and warnings (duplicates dropped), the OOD figures of either."""
        return Scope(
            reasons=_unique(self.reasons + other.reasons),
            warnings=_unique(self.warnings + other.warnings),
            ood_score=other.ood_score if other.ood_score is not None else self.ood_score,
            ood_cutoff=other.ood_cutoff if other.ood_cutoff is not None else self.ood_cutoff,
        )


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


IN_SCOPE = Scope()
