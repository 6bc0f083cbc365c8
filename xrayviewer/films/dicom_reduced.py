"""Reduced-resolution decoding of one compressed DICOM frame, for callers that only need a small film.

JPEG 2000 stores a wavelet pyramid, so decoding 1/2^r of each edge skips most of the entropy decoding;
baseline JPEG has DCT scaling. Both run through Pillow, which exposes these knobs (pylibjpeg does not).
Everything here returns None when it does not apply, and the caller falls back to a full decode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image
from pydicom import uid

from .raster import pillow_to_array

_J2K_SYNTAXES = frozenset({uid.JPEG2000Lossless, uid.JPEG2000})
_JPEG8_SYNTAXES = frozenset({uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit})
_J2K_SOC_SIZ = b"\xff\x4f\xff\x51"


@dataclass(frozen=True)
class FrameInfo:
    rows: int
    columns: int
    bits_stored: int
    signed: bool
    samples: int


def decode_reduced(frame: bytes, transfer_syntax: str, info: FrameInfo, min_size: int) -> np.ndarray | None:
    """Stored pixel values of `frame` at reduced size (both edges >= min_size), or None."""
    if info.samples != 1 or min_size <= 0:
        return None
    if transfer_syntax in _J2K_SYNTAXES:
        return _j2k(frame, info, min_size)
    if transfer_syntax in _JPEG8_SYNTAXES and info.bits_stored <= 8:
        return _jpeg(frame, min_size)
    return None


def reduction_levels(columns: int, rows: int, min_size: int, max_levels: int) -> int:
    """Largest r <= max_levels with both ceil(edge / 2**r) >= min_size."""
    r = 0
    while r < max_levels and -(-columns // 2 ** (r + 1)) >= min_size and -(-rows // 2 ** (r + 1)) >= min_size:
        r += 1
    return r


def j2k_header(frame: bytes) -> tuple[int, bool, int] | None:
    """(precision, signed, decomposition levels) of a raw J2K codestream's first component, or None."""
    if not frame.startswith(_J2K_SOC_SIZ) or len(frame) < 43:
        return None
    (lsiz,) = struct.unpack_from(">H", frame, 4)
    ssiz = frame[42]
    precision, signed = (ssiz & 0x7F) + 1, bool(ssiz & 0x80)
    pos = 4 + lsiz
    while pos + 4 <= len(frame):
        marker, length = struct.unpack_from(">HH", frame, pos)
        if marker == 0xFF52:  # COD: Lcod(2) Scod(1) SGcod(4) then SPcod's decomposition levels
            if pos + 10 > len(frame):
                return None
            return precision, signed, frame[pos + 9]
        if marker == 0xFF90 or marker >> 8 != 0xFF or length < 2:  # tile data before COD: malformed
            return None
        pos += 2 + length
    return None


def _j2k(frame: bytes, info: FrameInfo, min_size: int) -> np.ndarray | None:
    header = j2k_header(frame)
    if header is None:
        return None
    precision, j2k_signed, levels = header
    if precision > 16:
        return None
    r = reduction_levels(info.columns, info.rows, min_size, levels)
    if r == 0:
        return None
    with Image.open(BytesIO(frame), formats=("JPEG2000",)) as img:
        img.reduce = r  # Pillow's J2K plugin: a settable level
        img.load()
        if img.mode not in ("L", "I;16", "I;16L"):
            return None
        arr = pillow_to_array(img)  # writable copy: corrected in place below
    # Pillow scales N-bit samples up to 8/16 bits and offsets signed ones to unsigned (like pydicom's
    # Pillow plugin, undo both so the values match pydicom's full decode).
    container = arr.dtype.itemsize * 8
    if info.signed:
        if j2k_signed:  # Pillow stored (v + 2**(p-1)) << shift; XOR of the top bit then a signed view
            arr ^= np.array(1 << (container - 1), dtype=arr.dtype)  # gives v << shift
        arr = arr.view(f"i{arr.dtype.itemsize}")
    if shift := container - precision:
        np.right_shift(arr, shift, out=arr)
    return arr


def _jpeg(frame: bytes, min_size: int) -> np.ndarray | None:
    with Image.open(BytesIO(frame), formats=("JPEG",)) as img:
        full = img.size
        img.draft("L", (min_size, min_size))
        if img.size == full or img.mode != "L":
            return None
        img.load()
        return pillow_to_array(img)
