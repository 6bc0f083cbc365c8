"""What a DICOM file says about itself: image or not, side-panel attributes, and which of them are PHI."""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName

_IMAGE_STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1."
_STANDARD_ROOT = "1.2.840.10008."
# Storage SOP classes under the image root that hold no viewable radiograph.
_NON_IMAGE_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms (ECG, audio, ...)
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA/STL/...
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registrations, fiducials, segmentations
    "1.2.840.10008.5.1.4.1.1.67",  # real world value mapping
    "1.2.840.10008.5.1.4.1.1.68.",  # surfaces
    "1.2.840.10008.5.1.4.1.1.4.2",  # MR spectroscopy
    "1.2.840.10008.5.1.4.1.1.200.",  # protocols
    "1.2.840.10008.5.1.4.1.1.90.",  # content assessment results
    "1.2.840.10008.5.1.4.1.1.91.",  # microscopy annotations
)
_UID_CHARS = frozenset("0123456789.")
_RT_PREFIX = "1.2.840.10008.5.1.4.1.1.481."
_RT_IMAGE = "1.2.840.10008.5.1.4.1.1.481.1"

# (attribute keyword, side-panel key); order is the panel's order.
_META_FIELDS: tuple[tuple[str, str], ...] = (
    ("Modality", "Modality"),
    ("BodyPartExamined", "BodyPartExamined"),
    ("ViewPosition", "ViewPosition"),
    ("StudyDescription", "StudyDescription"),
    ("SeriesDescription", "SeriesDescription"),
    ("ProtocolName", "ProtocolName"),
    ("StudyDate", "StudyDate"),
    ("StudyTime", "StudyTime"),
    ("AcquisitionDate", "AcquisitionDate"),
    ("Manufacturer", "Manufacturer"),
    ("ManufacturerModelName", "ManufacturerModelName"),
    ("PhotometricInterpretation", "PhotometricInterpretation"),
    ("BitsAllocated", "BitsAllocated"),
    ("BitsStored", "BitsStored"),
    ("PixelRepresentation", "PixelRepresentation"),
    ("Rows", "Rows"),
    ("Columns", "Columns"),
    ("NumberOfFrames", "NumberOfFrames"),
    ("PixelSpacing", "PixelSpacing"),
    ("ImagerPixelSpacing", "ImagerPixelSpacing"),
    ("RescaleSlope", "RescaleSlope"),
    ("RescaleIntercept", "RescaleIntercept"),
    ("WindowCenter", "WindowCenter"),
    ("WindowWidth", "WindowWidth"),
    ("PatientName", "PatientName"),
    ("PatientID", "PatientID"),
    ("OtherPatientIDs", "OtherPatientIDs"),
    ("PatientBirthDate", "PatientBirthDate"),
    ("PatientSex", "PatientSex"),
    ("PatientAge", "PatientAge"),
    ("PatientWeight", "PatientWeight"),
    ("AccessionNumber", "AccessionNumber"),
    ("StudyID", "StudyID"),
    ("InstitutionName", "InstitutionName"),
    ("InstitutionAddress", "InstitutionAddress"),
    ("InstitutionalDepartmentName", "InstitutionalDepartmentName"),
    ("StationName", "StationName"),
    ("ReferringPhysicianName", "ReferringPhysicianName"),
    ("PerformingPhysicianName", "PerformingPhysicianName"),
    ("OperatorsName", "OperatorsName"),
    ("StudyInstanceUID", "StudyInstanceUID"),
    ("SeriesInstanceUID", "SeriesInstanceUID"),
    ("SOPInstanceUID", "SOPInstanceUID"),
)

PHI_KEYS: frozenset[str] = frozenset(
    {
        "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientSex", "PatientAge",
        "PatientWeight", "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress",
        "InstitutionalDepartmentName", "StationName", "ReferringPhysicianName", "PerformingPhysicianName",
        "OperatorsName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
        # Dates tied to a patient are identifiers under HIPAA Safe Harbor.
        "StudyDate", "StudyTime", "AcquisitionDate",
    }
)  # fmt: skip
"""Meta keys that identify the patient (hidden by default in the GUI)."""

_MAX_VALUE_CHARS = 200


def sop_class_name(ds: Dataset) -> str | None:
    """Readable SOP class, without the redundant ' Storage' ending; None when the file names none."""
    uid = _sop_class_uid(ds)
    if not uid:
        return None
    return UID(uid).name.replace(" Storage", "")


def is_non_image_sop_class(ds: Dataset) -> bool:
    """True for standard SOP classes that never hold a radiograph (reports, RT plans, waveforms, ...)."""
    uid = _sop_class_uid(ds)
    if not uid or not uid.startswith(_STANDARD_ROOT):
        return False  # missing or private: let the pixel data decide
    if not uid.startswith(_IMAGE_STORAGE_ROOT):
        return True  # e.g. Media Storage Directory, hanging protocols, RT second generation
    if uid.startswith(_RT_PREFIX):
        return uid != _RT_IMAGE
    return uid.startswith(_NON_IMAGE_PREFIXES)


def build_meta(ds: Dataset, transfer_syntax: str) -> dict[str, str]:
    """Short string values for the side panel; empty attributes are left out."""
    meta: dict[str, str] = {}
    for keyword, key in _META_FIELDS:
        text = _text(_element(ds, keyword))
        if text:
            meta[key] = text
        if keyword == "PhotometricInterpretation":
            meta["TransferSyntax"] = transfer_syntax
    if name := sop_class_name(ds):
        meta["SOPClass"] = name
    return meta


def _sop_class_uid(ds: Dataset) -> str:
    """The SOP class UID from the dataset or its file meta; "" when absent or not a well-formed UID."""
    file_meta = getattr(ds, "file_meta", None)
    for value in (ds.get("SOPClassUID"), file_meta.get("MediaStorageSOPClassUID") if file_meta else None):
        text = str(value or "").strip().rstrip("\x00")
        if text and len(text) <= 64 and _UID_CHARS.issuperset(text):
            return text
    return ""


def _element(ds: Dataset, keyword: str) -> DataElement | None:
    try:
        return ds[keyword]
    except KeyError:
        return None


def _text(elem: DataElement | None) -> str:
    if elem is None or elem.value is None:
        return ""
    try:
        values = list(elem.value) if isinstance(elem.value, list | tuple | MultiValue) else [elem.value]
        text = "\\".join(_format_value(v, elem.VR) for v in values)
    except Exception:  # a value pydicom cannot convert (bad charset, bad number) is left out
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "\u2026"
    return text


def _format_value(value: object, vr: str) -> str:
    """DICOM spellings made readable: Doe^John -> Doe, John; 20240131 -> 2024-01-31; 101530 -> 10:15:30."""
    if isinstance(value, PersonName):
        return value.family_comma_given() if value.given_name else str(value).replace("^", " ").strip()
    text = str(value).strip()
    if vr == "DA" and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if vr == "TM" and len(text) >= 4 and text[:4].isdigit():
        return ":".join(text[i : i + 2] for i in range(0, min(len(text.split(".")[0]), 6), 2))
    return text
