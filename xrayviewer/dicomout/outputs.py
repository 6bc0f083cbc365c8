"""DICOM results for a scoring run: from the scorer's results to checked SR + capture, on disk and/or kept
per study for the PACS.

Works with any result shaped like :class:`xrayviewer.inference.scoring.FilmResult` (path, probability,
prediction, borderline, cam, scope) and reads the optional fields defensively, so the scope gate,
calibration and the borderline band can evolve without this module changing.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrayviewer.dicomout.errors import DicomResultError
from xrayviewer.dicomout.finding import OUT_OF_SCOPE, PREDICTIONS, ScoredFilm
from xrayviewer.dicomout.results import FilmObjects, ResultBuilder, write_objects
from xrayviewer.dicomout.sc import source_header


def model_version(card: Any) -> str:
    """The model's version as the card tells it: an explicit version, else when it was trained."""
    extra = getattr(card, "extra", {}) or {}
    return str(extra.get("version") or getattr(card, "trained_at", "") or "")


def scored_film(result: Any, card: Any, threshold: float | None = None) -> ScoredFilm:
    """A scorer's result -> what the writers need. DicomResultError if the result cannot be reported."""
    prediction = str(getattr(result, "prediction", "") or "")
    if prediction not in PREDICTIONS:
        raise DicomResultError(f"no DICOM result for a film the model did not call (prediction {prediction!r})")
    scope = getattr(result, "scope", None)
    reason = ""
    if prediction == OUT_OF_SCOPE:
        reason = (str(getattr(scope, "reason_text", "") or "") or str(getattr(result, "scope_reason", "") or "")
                  or "outside the model's scope")
    p = getattr(result, "probability", None)
    probability = None if p is None or not math.isfinite(float(p)) or prediction == OUT_OF_SCOPE else float(p)
    t = threshold if threshold is not None else getattr(result, "threshold", None)
    if t is None or not math.isfinite(float(t)):
        t = card.threshold
    return ScoredFilm(
        source=Path(result.path), prediction=prediction, threshold=float(t), model_id=str(card.id),
        probability=probability, model_version=model_version(card), scope_reason=reason,
        calibrated=float(getattr(card, "temperature", 1.0) or 1.0) != 1.0,
        borderline=bool(getattr(result, "borderline", False)),
        cam=None if prediction == OUT_OF_SCOPE else getattr(result, "cam", None),
    )


@dataclass
class DicomOutputs:
    """Makes each scored film's results; thread-safe, so it can run on the heat-map pool.

    ``out_dir``: write ``<out_dir>/<film's path under base>.sr.dcm`` / ``.sc.dcm``. ``keep``: also keep
    the objects per study (for STOW). Films that are not DICOM are counted, not failed: a JPEG has no
    study to put a result in.
    """

    base: Path
    card: Any
    out_dir: Path | None = None
    keep: bool = False
    threshold: float | None = None
    builder: ResultBuilder = field(default_factory=ResultBuilder)
    written: int = 0
    not_dicom: int = 0
    failed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # study -> messages
    kept: dict[str, list[FilmObjects]] = field(default_factory=lambda: defaultdict(list))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: Any) -> FilmObjects | None:
        """Build, check and write one film's results. Raises DicomResultError/OSError for a failure
        (after recording it against its study, so that study's results are never stored half)."""
        path = Path(result.path)
        try:
            header = source_header(path)
        except DicomResultError as exc:
            if str(exc).startswith("not a readable DICOM"):
                with self._lock:
                    self.not_dicom += 1
                return None
            raise
        study = str(header.StudyInstanceUID)
        try:
            objects = self.builder.build(scored_film(result, self.card, self.threshold), header)
            if self.out_dir is not None:
                try:
                    rel = path.relative_to(self.base)
                except ValueError:
                    rel = Path(path.name)
                write_objects(objects, self.out_dir / rel)
        except (DicomResultError, OSError) as exc:
            with self._lock:
                self.failed[study].append(str(exc))
            raise
        with self._lock:
            self.written += self.out_dir is not None
            if self.keep:
                self.kept[study].append(objects)
        return objects

    def storable(self) -> dict[str, list[FilmObjects]]:
        """Studies whose every result was made and checked: only these may be stored."""
        return {study: objs for study, objs in self.kept.items() if study not in self.failed}
