"""DICOM films through pydicom: checks before decoding, the first frame only, then the display pipeline.

Order follows PS3.3 C.11 / PS3.4 N.2: modality LUT or rescale, VOI LUT or window (first one), then
MONOCHROME1 inversion, so brighter always means denser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
import pydicom
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_fragments, get_frame
from pydicom.pixels import apply_color_lut, get_decoder

from . import voi
from .colour import colour_fraction_rgb
from .dicom_meta import PHI_KEYS, build_meta, is_non_image_sop_class, sop_class_name
from .dicom_reduced import FrameInfo, decode_reduced
from .errors import FilmError, is_decoder_failure
from .limits import check_pixel_count
from .sniff import has_dicom_preamble

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's convert("L")


@dataclass
class DicomImage:
    pixels: np.ndarray
    original_size: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    phi_keys: frozenset[str] = frozenset()
    window_presets: list[tuple[float, float, str]] = field(default_factory=list)
    modality: np.ndarray | None = None
    colour: float = 0.0
    decoded: bool = True


HeaderCheck = Callable[[dict[str, str]], bool]
"""Told a DICOM's side-panel attributes before its pixels are decoded; False skips the decoding."""


class _TrackingBuffer(BytesIO):
    """Notices truncation: pydicom stops quietly at a cut-off element, and we want to say so.

    pydicom reads each element as an 8-byte header then its value. A clean end of file is therefore an
    empty 8-byte read; the first read to come up short in any other way means the file was cut.
    """

    short_read = False
    _at_end = False

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        if size is not None and size > 0 and len(chunk) < size and not self._at_end:
            self._at_end = True
            self.short_read = bool(chunk) or size != 8
        return chunk


def decode_dicom(
    data: bytes, *, min_size: int | None = None, keep_modality: bool = False, header_check: HeaderCheck | None = None
) -> DicomImage:
    """Decode the first frame of a DICOM file to float32 display values in [0, 1].

    ``header_check`` sees the attributes once the file is known to hold an image; when it returns False
    the pixels are never decoded (``decoded=False``, empty ``pixels``): an out-of-scope film (a cine,
    a mammogram) costs no decoding, and may even have pixel data we could not decode.
    """
    buffer = _TrackingBuffer(data)
    try:
        ds = pydicom.dcmread(buffer, force=not has_dicom_preamble(data))
    except Exception as exc:
        if buffer.short_read:
            raise FilmError("truncated DICOM: file ends inside the header") from exc
        raise FilmError("corrupt DICOM: the header cannot be parsed") from exc
    try:
        return _decode(ds, buffer.short_read, min_size, keep_modality, header_check)
    except (FilmError, MemoryError):
        raise
    except BaseException as exc:  # pydicom converts attributes lazily: damage surfaces on first access
        if not is_decoder_failure(exc):
            raise
        raise FilmError("corrupt DICOM: a header attribute is damaged") from exc


def _decode(
    ds: Dataset, truncated: bool, min_size: int | None, keep_modality: bool, header_check: HeaderCheck | None
) -> DicomImage:
    keyword = next((k for k in _PIXEL_KEYWORDS if k in ds), None)
    if keyword is None and (truncated or len(ds) == 0):  # len 0: nothing after the file meta header
        raise FilmError("truncated DICOM: file ends before the pixel data")
    sop = sop_class_name(ds)
    if keyword is None or is_non_image_sop_class(ds):
        raise FilmError(f"DICOM file has no image (SOP class: {sop or 'not stated'})")

    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    if rows is None or columns is None:
        raise FilmError("corrupt DICOM: the image size (Rows/Columns) is missing")
    frames = max(_int(ds, "NumberOfFrames") or 1, 1)
    tsyntax = _transfer_syntax(ds, keyword)
    notes = [f"multi-frame DICOM: showing frame 1 of {frames}"] if frames > 1 else []
    meta = build_meta(ds, tsyntax.name)
    if header_check is not None and not header_check(meta):
        empty = np.zeros((0, 0), dtype=np.float32)
        return DicomImage(empty, (columns, rows), notes, meta, PHI_KEYS, decoded=False)
    check_pixel_count(columns, rows, frames)

    try:
        arr = _first_frame(ds, tsyntax, keyword, frames, min_size)
    except MemoryError:
        raise
    except BaseException as exc:  # BaseException: pylibjpeg-rle's Rust panics are not Exceptions
        if not is_decoder_failure(exc):
            raise
        raise FilmError(_decode_error(exc, tsyntax, truncated)) from exc
    if truncated:
        notes.append("the file ends early, after the pixel data; some attributes may be missing")

    pixels, modality, presets, colour = _display(arr, ds, keep_modality)
    return DicomImage(
        pixels=pixels,
        original_size=(columns, rows),
        notes=notes,
        meta=meta,
        phi_keys=PHI_KEYS,
        window_presets=presets,
        modality=modality,
        colour=colour,
    )


def _first_frame(
    ds: Dataset, tsyntax: uid.UID, keyword: str, frames: int, min_size: int | None
) -> np.ndarray:
    if min_size and keyword == "PixelData" and tsyntax.is_encapsulated:
        info = FrameInfo(
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            bits_stored=_int(ds, "BitsStored") or _int(ds, "BitsAllocated") or 8,
            signed=_int(ds, "PixelRepresentation") == 1,
            samples=_int(ds, "SamplesPerPixel") or 1,
        )
        try:
            offsets = _extended_offsets(ds)
            frame = get_frame(ds.PixelData, 0, number_of_frames=frames, extended_offsets=offsets)
            reduced = decode_reduced(frame, tsyntax, info, min_size)
        except MemoryError:
            raise
        except BaseException as exc:  # unusual codestream: the full decode below decides and names errors
            if not is_decoder_failure(exc):
                raise
            reduced = None
        if reduced is not None:
            return reduced
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise FilmError(f"unsupported DICOM compression: {tsyntax.name}") from exc
    if not decoder.is_available:
        needs = sorted({dep.split(" ")[0] for dep in decoder.missing_dependencies})
        raise FilmError(
            f"cannot decode {tsyntax.name} DICOM: no decoder installed (needs {' or '.join(needs)})"
        )
    arr, _ = decoder.as_array(ds, index=0)
    return arr


def _display(
    arr: np.ndarray, ds: Dataset, keep_modality: bool
) -> tuple[np.ndarray, np.ndarray | None, list[tuple[float, float, str]], float]:
    """Stored values -> (display float32 [0, 1], modality float32 or None, window presets, colour)."""
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    if photometric == "PALETTE COLOR" and arr.ndim == 2:
        rgb = apply_color_lut(arr, ds)
        full_scale = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind == "u" else 1.0
        gray = _luma(rgb, full_scale)
        colour = colour_fraction_rgb(rgb, full_scale)
        return gray, (gray if keep_modality else None), [(0.5, 1.0, "Full range")], colour
    if arr.ndim == 3:  # RGB / YBR (pydicom converted YBR to RGB)
        bits = _int(ds, "BitsStored") or arr.dtype.itemsize * 8
        full_scale = float(2**bits - 1) if arr.dtype.kind in "ui" else 1.0
        gray = _luma(arr, full_scale)
        colour = colour_fraction_rgb(arr, full_scale)
        return gray, (gray if keep_modality else None), [(0.5, 1.0, "Full range")], colour

    values = voi.modality_values(arr, ds)
    lo, hi = float(np.min(values)), float(np.max(values))
    windows = voi.windows(ds)
    presets = [(w.center, w.width, w.label) for w in windows]
    lut_items = ds.get("VOILUTSequence") or []
    if lut_items and "LUTData" in lut_items[0] and "LUTDescriptor" in lut_items[0]:
        little_endian = ds.original_encoding[1] is not False
        signed = _int(ds, "PixelRepresentation") == 1
        pixels = voi.apply_lut(values, lut_items[0], little_endian, signed)
        first, entries = voi.lut_input_range(lut_items[0], signed)  # a linear stand-in for re-windowing
        presets.insert(0, (first + (entries - 1) / 2, float(entries), "VOI LUT range"))
    elif windows:
        pixels = voi.apply_window(values, windows[0])
    else:
        pixels = voi.full_range(values, lo, hi)
    if photometric == "MONOCHROME1":
        np.subtract(np.float32(1.0), pixels, out=pixels)
    if math.isfinite(lo) and math.isfinite(hi):
        presets.append(((lo + hi) / 2, max(hi - lo, 1e-6), "Full range"))
    modality = None
    if keep_modality:
        modality = values.astype(np.float32, copy=values is arr)
    return pixels, modality, presets, 0.0


def _luma(rgb: np.ndarray, full_scale: float) -> np.ndarray:
    gray = rgb[..., :3].astype(np.float32) @ _LUMA
    gray *= np.float32(1.0 / full_scale)
    return gray


def _transfer_syntax(ds: Dataset, keyword: str) -> uid.UID:
    """The file's transfer syntax, or a guess for files without one (no file meta header)."""
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is None:
        file_meta = ds.file_meta = FileMetaDataset()
    tsyntax = file_meta.get("TransferSyntaxUID")
    if tsyntax:
        tsyntax = uid.UID(str(tsyntax).strip().rstrip("\x00"))
        if tsyntax.is_transfer_syntax:
            return tsyntax
    if ds[keyword].is_undefined_length:
        tsyntax = _guess_compression(ds.PixelData)
        if tsyntax is None:
            raise FilmError("corrupt DICOM: no transfer syntax, and the compression is of an unknown kind")
    else:
        implicit, little = ds.original_encoding
        if little is False:
            tsyntax = uid.ExplicitVRBigEndian
        else:
            tsyntax = uid.ImplicitVRLittleEndian if implicit is not False else uid.ExplicitVRLittleEndian
    file_meta.TransferSyntaxUID = tsyntax
    return tsyntax


def _guess_compression(pixel_data: bytes) -> uid.UID | None:
    """Encapsulated pixel data without a transfer syntax: recognise the codec by its first fragment."""
    try:
        fragments = generate_fragments(pixel_data)
        next(fragments)  # basic offset table
        first = next((f for f in fragments if f), b"")
    except Exception:
        return None
    if first.startswith(b"\xff\x4f\xff\x51") or first[4:8] == b"jP  ":
        return uid.JPEG2000
    if first.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(first) and first[pos] == 0xFF:
            marker = first[pos + 1]
            if marker in (0xC0, 0xC1, 0xC3, 0xF7):
                return {0xC0: uid.JPEGBaseline8Bit, 0xC1: uid.JPEGExtended12Bit, 0xC3: uid.JPEGLossless,
                        0xF7: uid.JPEGLSLossless}[marker]  # fmt: skip
            pos += 2 + int.from_bytes(first[pos + 2 : pos + 4], "big")
        return uid.JPEGBaseline8Bit
    if len(first) >= 64 and 1 <= int.from_bytes(first[:4], "little") <= 15 and first[4:8] == b"\x40\0\0\0":
        return uid.RLELossless
    return None


def _extended_offsets(ds: Dataset) -> tuple[bytes, bytes] | None:
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        return ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths
    return None


def _decode_error(exc: Exception, tsyntax: uid.UID, truncated: bool) -> str:
    text = str(exc).lower()
    if truncated or "less than expected" in text or "truncat" in text or "end of" in text:
        return "truncated DICOM: pixel data ends early"
    return f"corrupt DICOM: the {tsyntax.name} pixel data cannot be decoded"


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
