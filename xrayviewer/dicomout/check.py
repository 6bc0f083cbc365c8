"""Check every object before it leaves: a pydicom round trip always, dciodvfy (dicom3tools) where installed.

highdicom already refuses content that breaks its template and IOD rules while building; the round trip
proves the bytes we write read back as the same object, and dciodvfy is an independent verifier of the
IOD (it is the reference checker from David Clunie's dicom3tools).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from xrayviewer.dicomout.errors import DicomResultError

_KEYS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID")


def encode(ds: Dataset) -> bytes:
    """The Part 10 bytes of ``ds`` (file meta included)."""
    buf = io.BytesIO()
    try:
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise DicomResultError(f"cannot encode {_label(ds)}: {exc}") from exc
    return buf.getvalue()


def _label(ds: Dataset) -> str:
    kind = ds.SOPClassUID.name if "SOPClassUID" in ds else "object"
    return f"{kind} {ds.get('SOPInstanceUID', '?')}"


def round_trip(ds: Dataset) -> bytes:
    """Encode, read back and compare identity, content tree and pixels; returns the bytes that passed."""
    data = encode(ds)
    try:
        back = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # pydicom raises many types on bad bytes; any of them means "not valid"
        raise DicomResultError(f"{_label(ds)} does not read back: {exc}") from exc
    for key in _KEYS:
        if str(getattr(back, key, "")) != str(getattr(ds, key, "")):
            raise DicomResultError(f"{_label(ds)} reads back with a different {key}")
    if "ContentSequence" in ds and len(back.ContentSequence) != len(ds.ContentSequence):
        raise DicomResultError(f"{_label(ds)} reads back with a different content tree")
    if "PixelData" in ds:
        try:
            same = (back.pixel_array == ds.pixel_array).all()
        except Exception as exc:
            raise DicomResultError(f"{_label(ds)} pixels do not decode: {exc}") from exc
        if not same:
            raise DicomResultError(f"{_label(ds)} reads back with different pixels")
    return data


def dciodvfy_available() -> bool:
    return shutil.which("dciodvfy") is not None


def dciodvfy_errors(data: bytes) -> list[str]:
    """The lines dciodvfy reports as errors for these Part 10 bytes ([] when clean or not installed).

    Warnings are not errors: dciodvfy warns about attributes a DICOMDIR would want, which are optional.
    """
    exe = shutil.which("dciodvfy")
    if exe is None:
        return []
    with tempfile.TemporaryDirectory(prefix="xrayviewer-dciodvfy-") as tmp:
        path = Path(tmp) / "object.dcm"
        path.write_bytes(data)
        try:
            run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60, errors="replace")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [f"dciodvfy could not run: {exc}"]
    return [line.strip() for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def check(ds: Dataset, *, dciodvfy: bool = False) -> bytes:
    """Every check on one object; returns its bytes, or raises DicomResultError naming the first problem."""
    data = round_trip(ds)
    if dciodvfy:
        errors = dciodvfy_errors(data)
        if errors:
            raise DicomResultError(f"{_label(ds)} fails dciodvfy: {'; '.join(errors[:3])}")
    return data
