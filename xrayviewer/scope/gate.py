"""The scope gate: one object that the CLI, the app and the batch engines ask before the model judges.

Order of work for one film: ``header_check`` while the DICOM is read (a refused header means its pixels
are never decoded), ``check_film`` on the decoded film (header rules and cheap image checks), then
``check_embedding`` on the model's embedding (the OOD detector and the orientation check carried in the
model card). A film with
any reason is out of scope: the caller withholds the model's call (``withholds``), unless the gate was
made with ``enforce=False`` (``--no-scope-gate``, for research), which still reports the verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from xrayviewer.films import Film

from .header import check_header, header_allows_decoding
from .image import image_stats
from .ood import OodDetector
from .orientation import REASON as TURNED_REASON
from .orientation import OrientationCheck
from .result import IN_SCOPE, Scope

log = logging.getLogger(__name__)

GATE_OFF_WARNING = "scope gate off: the model judged a film the gate would refuse"


class ScopeError(ValueError):
    """The model card carries an OOD detector or orientation check that cannot be read."""


class ScopeGate:
    """Decides whether the model may judge a film, and says why not in words for the reader."""

    def __init__(self, detector: OodDetector | None = None, *, orientation: OrientationCheck | None = None,
                 enforce: bool = True) -> None:
        self.detector = detector
        self.orientation = orientation
        self.enforce = enforce

    @classmethod
    def for_model(cls, card: object, *, enforce: bool = True) -> ScopeGate:
        """The gate for a model: its card's ``ood`` detector and ``orientation`` check (each optional)."""
        ood = getattr(card, "ood", None) or {}
        detector = orientation = None
        if ood:
            try:
                detector = OodDetector.from_dict(ood)
            except ValueError as exc:
                raise ScopeError(f"the model card's OOD detector cannot be read: {exc}") from exc
        if turned := getattr(card, "orientation", None) or {}:
            try:
                orientation = OrientationCheck.from_dict(turned)
            except ValueError as exc:
                raise ScopeError(f"the model card's orientation check cannot be read: {exc}") from exc
        if detector is None:
            log.warning("model %s has no OOD detector: films are checked by header and image checks only",
                        getattr(card, "id", "?"))
        if orientation is None:
            log.warning("model %s has no orientation check: a turned or upside-down film is judged",
                        getattr(card, "id", "?"))
        return cls(detector, orientation=orientation, enforce=enforce)

    def describe(self) -> str:
        """One line for logs and reports."""
        if not self.enforce:
            return "scope gate OFF (--no-scope-gate): out-of-scope films are judged, their verdict reported"
        if self.detector is None and self.orientation is None:
            return "scope gate: DICOM header rules and image checks (this model has no OOD detector)"
        learnt = [c.describe() for c in (self.detector, self.orientation) if c is not None]
        return f"scope gate: DICOM header rules, image checks, {' and '.join(learnt)}"

    def header_check(self, meta: dict[str, str]) -> bool:
        """``load_film(header_check=...)``: decode pixels only when the header keeps the film in scope."""
        return not self.enforce or header_allows_decoding(meta)

    def check_film(self, film: Film) -> Scope:
        """Header rules (DICOM) and cheap image checks (any decoded film)."""
        scope = check_header(film.meta) if film.format == "dicom" else IN_SCOPE
        if film.decoded and film.pixels.ndim == 2 and min(film.pixels.shape) >= 2:
            scope = scope.plus(image_stats(film.pixels, film.original_size, film.colour).checks())
        return scope

    def check_embedding(self, scope: Scope, embedding: np.ndarray | None) -> Scope:
        """Add the OOD and orientation verdicts for one film's embedding [D] (nothing without either).

        The OOD reason comes first: for an image unlike any chest film, "turned" is the lesser news."""
        if embedding is None:
            return scope
        emb = np.asarray(embedding).reshape(1, -1)
        if self.detector is not None:
            score = float(self.detector.score(emb)[0])
            cutoff = self.detector.cutoff
            reasons: tuple[str, ...] = ()
            if not score <= cutoff:  # NaN-safe: an unscorable embedding is refused
                reasons = (
                    "image unlike the chest films the model was trained on "
                    f"(OOD score {score:.2f} > cut-off {cutoff:.2f})",
                )
            scope = scope.plus(Scope(reasons=reasons, ood_score=score, ood_cutoff=cutoff))
        if self.orientation is not None:
            turned = float(self.orientation.score(emb)[0])
            if not turned <= self.orientation.cutoff:  # NaN-safe, like the OOD score
                # turning the view in the app does not re-score: the file itself must be put right
                scope = scope.plus(Scope(reasons=(
                    f"{TURNED_REASON} (orientation score {turned:.1f} > {self.orientation.cutoff:.1f}): the model "
                    "judges upright films only; correct the file's orientation and score it again",)))
        return scope

    def withholds(self, scope: Scope) -> bool:
        """True when the model's call must not be given for this film."""
        return self.enforce and not scope.in_scope

    def final(self, scope: Scope) -> Scope:
        """The verdict as reported: with the gate off, an out-of-scope film carries a warning too."""
        if self.enforce or scope.in_scope:
            return scope
        return scope.plus(Scope(warnings=(GATE_OFF_WARNING,)))


def scope_of_meta(meta: Mapping[str, str]) -> Scope:
    """Header verdict alone, e.g. for a film the app lists before it is decoded."""
    return check_header(meta)
