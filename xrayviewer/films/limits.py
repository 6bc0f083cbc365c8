"""Documented resource limits: what a film may cost before we refuse to decode it.

Both limits protect the viewer from decompression bombs and absurd inputs; real chest films are a few
megapixels and a few megabytes.
"""

from __future__ import annotations

from .errors import FilmError

MAX_PIXELS: int = 100_000_000
"""Largest decodable image, in pixels (rows x columns, times frames for DICOM); about 10,000 x 10,000."""

MAX_FILE_BYTES: int = 2 * 1024**3
"""Largest file we read into memory (2 GiB)."""


def check_pixel_count(width: int, height: int, frames: int = 1) -> None:
    """Refuse images whose header claims more than MAX_PIXELS, before any pixel is decoded."""
    if width <= 0 or height <= 0:
        raise FilmError(f"not a readable image: header claims an empty image ({width} x {height} px)")
    if width * height * max(frames, 1) > MAX_PIXELS:
        size = f"{width} x {height} px" + (f" x {frames} frames" if frames > 1 else "")
        raise FilmError(f"image too large: {size} exceeds the {MAX_PIXELS:,}-pixel limit")


def format_bytes(n: int) -> str:
    """Human-readable byte count for messages (binary units)."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover
