"""Grayscale display pipeline for DICOM, in float32: modality rescale, VOI (LUT or window), polarity.

pydicom's own helpers compute in float64 (or overflow small LUT dtypes); a 2000 x 2000 film would cost
32 MB per temporary, so the arithmetic here stays in float32 and in place where it can.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut
from pydicom.valuerep import VR


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    label: str
    function: str = "LINEAR"


def modality_values(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values -> modality units (e.g. HU, or raw detector values), float32 when rescaled.

    Integer input without a rescale (slope 1, intercept 0) is returned unchanged: no copy.
    """
    if ds.get("ModalityLUTSequence"):
        return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    slope = _first_number(ds.get("RescaleSlope"), 1.0)
    intercept = _first_number(ds.get("RescaleIntercept"), 0.0)
    if slope == 0.0:  # invalid; taking it literally would blank the film
        slope = 1.0
    if slope == 1.0 and intercept == 0.0:
        return arr
    out = arr.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def windows(ds: Dataset) -> list[Window]:
    """All valid Window Center/Width pairs in the file, first one first."""
    centers = _numbers(ds.get("WindowCenter"))
    widths = _numbers(ds.get("WindowWidth"))
    labels = _strings(ds.get("WindowCenterWidthExplanation"))
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    found = []
    for i, (center, width) in enumerate(zip(centers, widths, strict=False)):
        if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
            continue
        if function == "LINEAR" and width < 1:
            continue
        label = labels[i] if i < len(labels) and labels[i] else f"Window {i + 1}"
        found.append(Window(center, width, label, function))
    return found


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2 window (LINEAR, LINEAR_EXACT or SIGMOID) -> float32 in [0, 1]."""
    out = values.astype(np.float32, copy=True)
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        # y = 1 / (1 + exp(-4 (x - c) / w)), computed in place.
        out -= np.float32(c)
        out *= np.float32(-4.0 / w)
        np.clip(out, -80.0, 80.0, out=out)  # exp would overflow float32 beyond ~88
        np.exp(out, out=out)
        out += np.float32(1.0)
        np.reciprocal(out, out=out)
        return out
    if window.function == "LINEAR_EXACT":
        low, span = c - w / 2, w
    else:  # LINEAR: the standard's half-pixel offsets
        low, span = c - 0.5 - (w - 1) / 2, w - 1
    out -= np.float32(low)
    out *= np.float32(1.0 / span)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def lut_input_range(item: Dataset, signed: bool) -> tuple[int, int]:
    """(first mapped value, number of entries) of a LUT Descriptor.

    The descriptor's VR is US or SS depending on the pixels; read as US, a negative first value of
    signed data shows up above 32767.
    """
    entries, first = int(item.LUTDescriptor[0]), int(item.LUTDescriptor[1])
    if signed and first > 32767:
        first -= 65536
    return first, entries or 65536


def apply_lut(values: np.ndarray, item: Dataset, little_endian: bool, signed: bool) -> np.ndarray:
    """One VOI LUT Sequence item -> float32 in [0, 1] (normalised by the LUT's largest entry)."""
    first, entries = lut_input_range(item, signed)
    lut = _lut_data(item, entries, little_endian)
    idx = np.rint(values) if values.dtype.kind == "f" else values.astype(np.int64, copy=False)
    idx = np.clip(idx - first, 0, len(lut) - 1).astype(np.intp, copy=False)
    top = float(lut.max()) if lut.size else 0.0
    table = lut.astype(np.float32) * np.float32(1.0 / top if top > 0 else 0.0)
    return table[idx]


def full_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Data min..max (`lo`, `hi`, already known) -> float32 [0, 1]: the VOI when the file gives none."""
    out = values.astype(np.float32, copy=True)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(out.min()), float(out.max())
    if hi <= lo:
        out[...] = 0.0
        return out
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    return out


def _lut_data(item: Dataset, entries: int, little_endian: bool) -> np.ndarray:
    elem = item["LUTData"]
    raw = elem.value
    if elem.VR == VR.OW or isinstance(raw, bytes | bytearray):
        count = min(entries, len(raw) // 2)
        fmt = f"{'<' if little_endian else '>'}{count}H"
        return np.asarray(struct.unpack_from(fmt, raw), dtype=np.uint16)
    values = list(raw) if isinstance(raw, list | tuple | MultiValue) else [raw]
    return np.asarray(values[:entries], dtype=np.int64)


def _numbers(value: object) -> list[float]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple | MultiValue) else [value]
    out = []
    for item in items:
        try:
            out.append(float(item))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def _first_number(value: object, default: float) -> float:
    numbers = [n for n in _numbers(value) if math.isfinite(n)]
    return numbers[0] if numbers else default


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple | MultiValue) else [value]
    return [str(v).strip() for v in items]
