"""What a DICOM result says about one film: the input of the SR and Secondary Capture writers.

Kept independent of the scorer's own result type so the scope gate, calibration and the reader's
decisions can all feed it without the writers knowing where a value came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xrayviewer.dicomout.errors import DicomResultError

PNEUMONIA, NORMAL, OUT_OF_SCOPE = "PNEUMONIA", "NORMAL", "OUT_OF_SCOPE"
PREDICTIONS = (PNEUMONIA, NORMAL, OUT_OF_SCOPE)


@dataclass(frozen=True, eq=False)
class ScoredFilm:
    """One scored DICOM film, as the writers need it.

    ``probability`` is whatever the engine reports (calibrated when ``calibrated`` is true); it may be
    None only for an out-of-scope film that was never scored. ``cam`` is the model's logit map
    (any 2-D shape, stretched over the film), None to write the film without a heat map.
    ``observer`` names a human reader: when set, the SR records that person's decision
    (``prediction``) instead of the model's call.
    """

    source: Path
    prediction: str
    threshold: float
    model_id: str
    probability: float | None = None
    model_version: str = ""
    scope_reason: str = ""
    calibrated: bool = False
    borderline: bool = False
    cam: np.ndarray | None = None
    observer: str = ""
    model_prediction: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise DicomResultError(f"unknown prediction {self.prediction!r} (expected one of {', '.join(PREDICTIONS)})")
        if not (isinstance(self.threshold, (int, float)) and 0.0 < float(self.threshold) < 1.0):
            raise DicomResultError(f"threshold {self.threshold!r} is not within (0, 1)")
        p = self.probability
        if p is None:
            if self.prediction != OUT_OF_SCOPE and not self.observer:
                raise DicomResultError("a film the model called needs its probability")
        elif not (math.isfinite(float(p)) and 0.0 <= float(p) <= 1.0):
            raise DicomResultError(f"probability {p!r} is not within [0, 1]")
        if self.prediction == OUT_OF_SCOPE and not self.scope_reason.strip():
            raise DicomResultError("an out-of-scope film needs the reason it is out of scope")
        if not self.model_id.strip():
            raise DicomResultError("the model id is empty")
        if self.cam is not None and np.asarray(self.cam).squeeze().ndim != 2:
            raise DicomResultError(f"the heat map must be 2-D, got shape {np.asarray(self.cam).shape}")
