"""JPEG and PNG films through Pillow: header checks first, reduced-size JPEG decoding, EXIF rotation."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps

from .colour import colour_fraction_rgb, colour_fraction_ycbcr
from .errors import FilmError
from .limits import MAX_PIXELS, check_pixel_count

_PIL_FORMATS = {"jpeg": ("JPEG", "MPO"), "png": ("PNG",)}
_NAMES = {"jpeg": "JPEG", "png": "PNG"}
# JPEG start-of-frame markers (all coding processes); C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}
_EXIF_ORIENTATION = 0x0112


@dataclass
class Raster:
    pixels: np.ndarray
    original_size: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    colour: float = 0.0  # fraction of pixels with visible colour in the source (0 for grey sources)


def decode_raster(data: bytes, kind: str, min_size: int | None = None) -> Raster:
    """Decode JPEG/PNG bytes (`kind` from sniffing) to a 2-D uint8 or uint16 array.

    With `min_size`, a JPEG is decoded with DCT scaling (1/2, 1/4, 1/8) as long as both edges stay
    >= min_size. Huffman decoding still covers the whole file, so this saves the inverse DCT and the
    full-size buffers (~25% of decode time) and makes the caller's resize up to 64x cheaper.
    """
    name = _NAMES[kind]
    if kind == "png":
        check_png_chunks(data)  # first, so a damaged size field is reported as damage
    header_size = png_size(data) if kind == "png" else jpeg_size(data)
    if header_size is not None:
        check_pixel_count(*header_size)
    try:
        img = Image.open(BytesIO(data), formats=_PIL_FORMATS[kind])
    except Image.DecompressionBombError as exc:
        raise FilmError(f"image too large: exceeds the {MAX_PIXELS:,}-pixel limit") from exc
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's header parsers raise many types on garbage (KeyError included)
        if "truncated" in str(exc).lower():
            raise FilmError(f"truncated {name}: file ends inside the header") from exc
        raise FilmError(f"corrupt {name}: the file header is damaged") from exc
    with img:
        width, height = img.size
        check_pixel_count(width, height)
        notes = _frame_notes(img, kind)
        orientation = _orientation(img)
        colour_jpeg = kind == "jpeg" and img.mode == "RGB"  # Pillow's mode for YCbCr- and RGB-coded JPEGs
        if kind == "jpeg":
            # Before load(), and before the transpose: draft only works on a not-yet-decoded JPEG.
            # "L" makes libjpeg emit luma only for colour JPEGs, cheaper than converting afterwards. At
            # reduced scale a colour JPEG is decoded as YCbCr instead: its Y plane is exactly that luma,
            # and Cb/Cr show whether the colour is real, for about the same cost.
            reduced = colour_jpeg and min_size is not None
            img.draft("YCbCr" if reduced else "L", (min_size, min_size) if min_size else None)
        try:
            img.load()
        except MemoryError:
            raise
        except OSError as exc:
            raise FilmError(_load_error_message(name, exc)) from exc
        except Exception as exc:  # SyntaxError, ValueError, EOFError, struct.error... all mean damage
            raise FilmError(f"corrupt {name}: image data is damaged") from exc
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        if orientation not in (None, 1):
            img = ImageOps.exif_transpose(img) or img
            notes.append(f"rotated/flipped upright as the EXIF orientation tag ({orientation}) asks")
        # After a luma-only decode, colour is measured on a separate 1/8-scale decode.
        colour = _jpeg_colour(data) if colour_jpeg and img.mode == "L" else _colour(img)
        if img.mode == "YCbCr":
            img = img.getchannel(0)
        pixels = _to_gray_array(img)
    return Raster(pixels=pixels, original_size=(width, height), notes=notes, colour=colour)


_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "CMYK", "P", "PA", "LAB", "HSV"})
_COLOUR_SAMPLE_EDGE = 256


def _colour(img: Image.Image) -> float:
    """Colour fraction of a decoded image, measured on a nearest-neighbour sample (one cheap resize)."""
    if img.mode not in _COLOUR_MODES and img.mode != "YCbCr":
        return 0.0
    s = max(1, max(img.width, img.height) // _COLOUR_SAMPLE_EDGE)
    small = img.resize((max(1, img.width // s), max(1, img.height // s)), Image.Resampling.NEAREST)
    if small.mode == "YCbCr":
        return colour_fraction_ycbcr(np.asarray(small))
    if small.mode not in ("RGB", "RGBA", "RGBX"):
        small = small.convert("RGB")
    return colour_fraction_rgb(np.asarray(small), 255.0)


def _jpeg_colour(data: bytes) -> float:
    """Colour fraction of a colour-coded JPEG from its smallest DCT-scaled decode (~1/3 of a decode)."""
    try:
        with Image.open(BytesIO(data), formats=("JPEG", "MPO")) as img:
            img.draft("YCbCr", (1, 1))
            img.load()
            return _colour(img)
    except MemoryError:
        raise
    except Exception:  # the full decode worked; a failure here only loses the colour measure
        return 0.0


def _orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a damaged EXIF block must not lose the film; the image itself may be fine
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _frame_notes(img: Image.Image, kind: str) -> list[str]:
    try:
        frames = int(getattr(img, "n_frames", 1))
    except Exception:
        return []
    if frames <= 1:
        return []
    what = "multi-picture JPEG (MPO)" if kind == "jpeg" else "animated PNG"
    return [f"{what}: showing frame 1 of {frames}"]


def _load_error_message(name: str, exc: OSError) -> str:
    text = str(exc).lower()
    if "truncated" in text:
        return f"truncated {name}: image data ends early"
    return f"corrupt {name}: image data is damaged"


def _to_gray_array(img: Image.Image) -> np.ndarray:
    """2-D uint8 or uint16 array. Colour is reduced to luma; alpha is dropped (X-rays are opaque)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = pillow_to_array(img) if mode == "I;16" else np.asarray(img)
        return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    if mode in ("I", "F"):
        arr = np.asarray(img)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if mode == "I" and lo >= 0 and hi <= 65535:
            return arr.astype(np.uint16)
        return _stretch_to_uint16(arr.astype(np.float32), lo, hi)
    if mode == "LA":
        img = img.getchannel("L")
    elif mode != "L":
        img = img.convert("L")
    return pillow_to_array(img)


_SHARED_MODES = {"L": np.uint8, "I;16": np.uint16}


def pillow_to_array(img: Image.Image) -> np.ndarray:
    """A writable numpy copy of an "L" or "I;16" image, about 30x faster than ``np.asarray(img)``.

    ``np.asarray`` goes through ``tobytes()``, which encodes in 64 KB chunks and joins them: ~15 ms for
    a 2000 x 1600 film. Pasting into an image that maps a numpy buffer is one memcpy per row. The
    buffer-sharing relies on ``Image.frombuffer``'s documented "raw" mapping; the first row is checked
    and any surprise falls back to ``np.asarray``.
    """
    dtype = _SHARED_MODES.get(img.mode)
    if dtype is None or img.width == 0 or img.height == 0:
        return np.array(img)
    arr = np.empty((img.height, img.width), dtype=dtype)
    try:
        target = Image.frombuffer(img.mode, img.size, arr, "raw", img.mode, 0, 1)
        target.readonly = False  # frombuffer marks mapped memory read-only; we own it, so allow paste
        target.paste(img, (0, 0))
        del target
        if np.array_equal(arr[:1], np.asarray(img.crop((0, 0, img.width, 1)))):
            return arr
    except (ValueError, TypeError, AttributeError):
        pass
    return np.array(img)


def _stretch_to_uint16(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map 32-bit integer or float data onto 0..65535 (uint16 is the widest display range we promise)."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint16)
    arr -= lo
    arr *= 65535.0 / (hi - lo)
    return arr.astype(np.uint16)


def check_png_chunks(data: bytes) -> None:
    """Verify critical chunks' CRCs: Pillow skips the check for image data, so damage would show as noise.

    zlib.crc32 runs at over 1 GB/s, a millisecond or two for a typical film.
    """
    pos, end = 8, len(data)
    while pos < end:
        if pos + 12 > end:
            raise FilmError("truncated PNG: image data ends early")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        stop = pos + 8 + length
        if stop + 4 > end:
            raise FilmError("truncated PNG: image data ends early")
        (crc,) = struct.unpack_from(">I", data, stop)
        critical = not kind[0] & 0x20  # like libpng: a bad ancillary chunk (text, time, ...) is ignored
        if critical and zlib.crc32(data[pos + 4 : stop]) != crc:
            part = "the file header" if kind == b"IHDR" else "image data"
            raise FilmError(f"corrupt PNG: {part} is damaged (checksum mismatch)")
        if kind == b"IEND":
            return
        pos = stop + 4
    raise FilmError("truncated PNG: image data ends early")


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the IHDR chunk, read without Pillow so a bomb is refused up front."""
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame marker, or None if the header is unusual."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            if pos + 9 > end:
                return None
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return (width, height)
        if marker == 0xDA or length < 2:  # start of scan before any frame header: malformed
            return None
        pos += 2 + length
    return None
