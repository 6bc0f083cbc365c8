"""How much real colour a source image holds, measured before the decoders reduce it to luma.

A radiograph is grey even when it is stored as RGB (screenshots, PACS exports, re-saved JPEGs); a
photograph is not. The scope gate needs to tell the two apart, and only the decoders still see colour.
"""

from __future__ import annotations

import numpy as np

VISIBLE_CHROMA = 0.10
"""A pixel shows colour when max(R, G, B) - min(R, G, B) exceeds this fraction of full scale.

JPEG chroma noise on a grey film stays within a few levels of 255, far below 25 levels.
"""

_MAX_SAMPLES = 1 << 16  # a strided sample of ~65k pixels measures a fraction to well under 1 %


def _stride(shape: tuple[int, ...]) -> int:
    return max(1, int(np.sqrt(shape[0] * shape[1] / _MAX_SAMPLES)))


def colour_fraction_rgb(rgb: np.ndarray, full_scale: float) -> float:
    """Fraction of pixels of an (H, W, >=3) RGB array whose chroma exceeds VISIBLE_CHROMA."""
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        return 0.0
    s = _stride(rgb.shape)
    sample = rgb[::s, ::s, :3].astype(np.float32)
    chroma = sample.max(axis=2) - sample.min(axis=2)
    return float(np.mean(chroma > VISIBLE_CHROMA * full_scale))


def colour_fraction_ycbcr(ycbcr: np.ndarray) -> float:
    """The same measure for an 8-bit (H, W, 3) JPEG YCbCr array, without converting it to RGB.

    R, G and B differ from Y by linear combinations of Cb and Cr (ITU-R BT.601, as JPEG uses), so the
    RGB chroma is the spread of those three differences.
    """
    if ycbcr.ndim != 3 or ycbcr.shape[2] < 3 or ycbcr.shape[0] == 0 or ycbcr.shape[1] == 0:
        return 0.0
    s = _stride(ycbcr.shape)
    cb = ycbcr[::s, ::s, 1].astype(np.float32) - 128.0
    cr = ycbcr[::s, ::s, 2].astype(np.float32) - 128.0
    dr = 1.402 * cr
    dg = -0.344136 * cb - 0.714136 * cr
    db = 1.772 * cb
    chroma = np.maximum(np.maximum(dr, dg), db) - np.minimum(np.minimum(dr, dg), db)
    return float(np.mean(chroma > VISIBLE_CHROMA * 255.0))
