"""The one preprocessing function shared by training and inference.

The whole film is resized to the model's square input WITHOUT keeping the aspect ratio: 3,591 training
films exist only as 224x224 squashed copies, so squashing is what makes originals and copies agree.
Intensities are then min-max scaled to [0, 1] per film, which makes 8-bit JPEGs, 16-bit PNGs and
windowed DICOMs of any bit depth look alike to the network.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MAX_INPUT_SIZE = 224


def preprocess(pixels: np.ndarray, size: int) -> np.ndarray:
    """Grayscale film (H, W) of any numeric dtype -> float32 (size, size) in [0, 1].

    Brighter must mean denser (film decoders already invert MONOCHROME1).
    """
    if size < 8 or size > MAX_INPUT_SIZE:
        raise ValueError(f"model input size must be 8..{MAX_INPUT_SIZE} px, got {size}")
    arr = np.asarray(pixels)
    if arr.ndim == 3:  # tolerate (H, W, C) input: average the colour channels
        arr = arr[..., :3].mean(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"expected a 2-D grayscale film, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        img = Image.fromarray(np.ascontiguousarray(arr))  # mode "L"
    else:
        img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32))  # mode "F"
    if img.size != (size, size):
        # BILINEAR with Pillow's reducing filter support: antialiased when shrinking, cheap.
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    out = np.asarray(img, dtype=np.float32)
    lo, hi = float(out.min()), float(out.max())
    if not np.isfinite(lo) or not np.isfinite(hi):
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(out.min()), float(out.max())
    if hi - lo < 1e-6:
        return np.zeros((size, size), dtype=np.float32)
    return ((out - lo) / (hi - lo)).astype(np.float32, copy=False)

