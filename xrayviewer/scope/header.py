"""Scope rules from a DICOM header, applied before any pixel is decoded.

The model was trained on frontal (AP) chest radiographs of children aged 1-5 years. A header that names
another modality, body part, view or a multi-frame series says the film is out of scope, whatever its
pixels look like. An empty attribute says nothing: real headers are often blank, so a missing value
never refuses a film (the image checks still run). Age outside 1-5 years is only a warning.

Input is ``Film.meta``: the side-panel attributes as ``films.dicom_meta.build_meta`` formats them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from .result import Scope

IN_SCOPE_MODALITIES = frozenset({"CR", "DX"})

MODALITY_NAMES: dict[str, str] = {
    "MG": "mammography", "XA": "X-ray angiography", "RF": "fluoroscopy", "CT": "computed tomography",
    "MR": "magnetic resonance", "US": "ultrasound", "NM": "nuclear medicine", "PT": "PET",
    "IO": "intra-oral X-ray", "PX": "panoramic X-ray", "BMD": "bone densitometry", "DG": "diaphanography",
    "ES": "endoscopy", "XC": "external camera photograph", "OP": "ophthalmic photograph",
    "OPT": "ophthalmic tomography", "SM": "slide microscopy", "GM": "general microscopy",
    "OT": "other", "SC": "secondary capture", "RG": "conventional radiographic imaging",
    "RTIMAGE": "radiotherapy image", "ECG": "electrocardiogram", "IVUS": "intravascular ultrasound",
    "OCT": "optical coherence tomography", "DOC": "document", "SR": "structured report",
    "TG": "thermography", "LS": "laser surface scan", "OSS": "optical surface scan",
}  # fmt: skip

# Tokens of BodyPartExamined (and of descriptions) that mean the chest, in a few languages.
_CHEST_WORDS = frozenset({"CHEST", "THORAX", "LUNG", "LUNGS", "THORACIC", "TORAX", "TORACE", "THORAKS",
                          "BRUSTKORB", "POUMON", "POUMONS", "PULMONARY", "THX", "CXR"})  # fmt: skip
# Words in descriptions that name a body part other than the chest.
_OTHER_BODY_WORDS = frozenset({
    "HAND", "HANDS", "WRIST", "FINGER", "FINGERS", "THUMB", "ELBOW", "FOREARM", "HUMERUS", "SHOULDER",
    "KNEE", "KNEES", "ANKLE", "FOOT", "FEET", "TOE", "TOES", "HEEL", "CALCANEUS", "TIBIA", "FIBULA",
    "FEMUR", "HIP", "HIPS", "PELVIS", "SKULL", "HEAD", "BRAIN", "FACE", "SINUS", "SINUSES", "MANDIBLE",
    "DENTAL", "TEETH", "SPINE", "CSPINE", "TSPINE", "LSPINE", "CERVICAL", "LUMBAR", "SACRUM", "COCCYX",
    "ABDOMEN", "ABDOMINAL", "KUB", "BREAST", "MAMMO", "MAMMOGRAPHY", "LEG", "LEGS", "ARM", "ARMS",
    "EXTREMITY", "SCAPULA", "CLAVICLE", "NECK", "ORBIT", "ORBITS", "JAW", "TMJ",
})  # fmt: skip
# The chest-like words that still mean something else in a description ("thoracic spine").
_NOT_CHEST_AFTER = {"THORACIC": {"SPINE", "VERTEBRA", "VERTEBRAE"}}

_FRONTAL_VIEWS = frozenset({"AP", "PA", "ANTEROPOSTERIOR", "POSTEROANTERIOR", "FRONTAL"})
_VIEW_KINDS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"LL", "RL", "LAT", "LATERAL", "LATERALE", "LLAT", "RLAT"}), "lateral"),
    (frozenset({"LLD", "RLD", "DECUB", "DECUBITUS"}), "decubitus"),
    (frozenset({"RAO", "LAO", "RPO", "LPO", "OBL", "OBLIQUE"}), "oblique"),
    (frozenset({"CC", "MLO", "ML", "LM", "XCC", "XCCL", "XCCM", "FB", "SIO", "LMO"}), "mammography view"),
    (frozenset({"AXIAL", "SAGITTAL", "CORONAL", "TANGENTIAL", "LORDOTIC"}), "not a frontal view"),
)
_IN_SCOPE_SOP_WORDS = ("Computed Radiography", "Digital X-Ray Image", "Secondary Capture")

TRAINED_AGE_YEARS = (1.0, 6.0)
"""Trained on children aged 1-5 years: from the first birthday up to (not including) the sixth."""

_AGE = re.compile(r"^\s*0*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def check_header(meta: Mapping[str, str]) -> Scope:
    """Reasons (modality, image type, frames, body part, view) and warnings (age, odd view) from a header."""
    reasons: list[str] = []
    warnings: list[str] = []
    modality = _value(meta, "Modality")
    if modality and modality not in IN_SCOPE_MODALITIES:
        name = MODALITY_NAMES.get(modality, "not CR or DX radiography")
        reasons.append(f"modality {modality} ({name})")
    sop = (meta.get("SOPClass") or "").strip()
    if sop and not _sop_in_scope(sop) and not (modality and modality not in IN_SCOPE_MODALITIES):
        reasons.append(f"image type {sop}")
    frames = _int(meta.get("NumberOfFrames"))
    if frames is not None and frames > 1:
        reasons.append(f"multi-frame image ({frames} frames: a cine or series, not a single film)")
    reasons.extend(_body_part(meta))
    view_reason, view_warning = _view(meta)
    reasons.extend(view_reason)
    warnings.extend(view_warning)
    warnings.extend(_age_warning(meta))
    return Scope(reasons=tuple(reasons), warnings=tuple(warnings))


def header_allows_decoding(meta: Mapping[str, str]) -> bool:
    """``load_film``'s header check: decode the pixels only of films the header keeps in scope."""
    return check_header(meta).in_scope


def patient_age_years(meta: Mapping[str, str]) -> float | None:
    """PatientAge (``003Y``, ``018M``, ...) or else birth date against the study/acquisition date."""
    match = _AGE.match(meta.get("PatientAge") or "")
    if match:
        return int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]
    born = _date(meta.get("PatientBirthDate"))
    seen = _date(meta.get("StudyDate")) or _date(meta.get("AcquisitionDate"))
    if born is None or seen is None or seen < born:
        return None
    return (seen - born).days / 365.25


def describe_age(years: float) -> str:
    """``8 months``, ``3 years``: how a reader would say it."""
    if years < 2:
        months = int(years * 12 + 1e-9)
        if months < 1:
            days = round(years * 365.25)
            return f"{days} day{'s' if days != 1 else ''}"
        return f"{months} month{'s' if months != 1 else ''}"
    return f"{int(years + 1e-9)} years"


def _age_warning(meta: Mapping[str, str]) -> list[str]:
    years = patient_age_years(meta)
    if years is None:
        return []
    lo, hi = TRAINED_AGE_YEARS
    if lo <= years < hi:
        return []
    adult = " (adult)" if years >= 18 else ""
    return [f"patient age {describe_age(years)}{adult} is outside the 1-5 years the model was trained on"]


def _body_part(meta: Mapping[str, str]) -> list[str]:
    part = _value(meta, "BodyPartExamined")
    if part:
        return [] if _names_chest(_words(part)) else [f"body part {part}"]
    # No body part: a description that names another part (and no chest) still tells.
    for key in ("StudyDescription", "SeriesDescription", "ProtocolName"):
        text = (meta.get(key) or "").strip()
        words = _words(text)
        others = sorted(words & _OTHER_BODY_WORDS)
        if others and not _names_chest(words):
            return [f"{_KEY_NAMES[key]} '{text}' names {others[0]}, not the chest"]
    return []


_KEY_NAMES = {"StudyDescription": "study description", "SeriesDescription": "series description",
              "ProtocolName": "protocol"}  # fmt: skip


def _names_chest(words: set[str]) -> bool:
    chest = words & _CHEST_WORDS
    return any(not (_NOT_CHEST_AFTER.get(w, set()) & words) for w in chest)


def _view(meta: Mapping[str, str]) -> tuple[list[str], list[str]]:
    view = _value(meta, "ViewPosition")
    if not view:
        return [], []
    words = _words(view)
    for kind_words, kind in _VIEW_KINDS:
        if words & kind_words:
            return [f"view {view} ({kind})"], []
    if words & _FRONTAL_VIEWS:
        return [], []
    return [], [f"view {view} not recognised (the model knows AP and PA films)"]


def _sop_in_scope(name: str) -> bool:
    if not name or set(name) <= set("0123456789."):  # a private or unknown SOP class: the pixels decide
        return True
    return any(word in name for word in _IN_SCOPE_SOP_WORDS)


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^A-Z0-9]+", text.upper()) if w}


def _value(meta: Mapping[str, str], key: str) -> str:
    return (meta.get(key) or "").strip().upper()


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text not in (None, "") else None
    except ValueError:
        return None


def _date(text: str | None) -> dt.date | None:
    """``build_meta`` writes dates as YYYY-MM-DD; raw YYYYMMDD is accepted too."""
    digits = (text or "").replace("-", "").strip()
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
