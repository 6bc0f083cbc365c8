"""The scope gate: refuse films the model must not judge, with a reason in words, before any call.

Runtime layer: numpy, pydicom and Pillow only (no torch, no Qt). Used alike by the CLI, the app and the
batch engines.

- ``ScopeGate.for_model(card)``: the gate for a model (its card's ``ood`` detector, if any).
- ``Scope``: one film's verdict (``in_scope``, ``label`` in/out, ``reasons``, ``warnings``, OOD score).
- ``check_header(meta)``: DICOM rules (modality, body part, view, frames; age as a warning).
- ``image_stats(...).checks()``: cheap image checks (blank, noise, colour, aspect ratio, inversion).
- ``fit_ood`` / ``OodDetector`` / ``evaluate_ood``: the embedding OOD detector the training fits.
- ``fit_orientation`` / ``OrientationCheck``: the embedding check for turned and upside-down films.
"""

from .gate import GATE_OFF_WARNING, ScopeError, ScopeGate
from .header import check_header, patient_age_years
from .image import ImageStats, image_stats
from .ood import OodDetector, OodEvaluation, describe_ood, evaluate_ood, fit_ood
from .orientation import OrientationCheck, describe_orientation, fit_orientation
from .result import IN_SCOPE, OUT_OF_SCOPE, Scope

__all__ = [
    "GATE_OFF_WARNING",
    "IN_SCOPE",
    "OUT_OF_SCOPE",
    "ImageStats",
    "OodDetector",
    "OodEvaluation",
    "OrientationCheck",
    "Scope",
    "ScopeError",
    "ScopeGate",
    "check_header",
    "describe_ood",
    "describe_orientation",
    "evaluate_ood",
    "fit_ood",
    "fit_orientation",
    "image_stats",
    "patient_age_years",
]
