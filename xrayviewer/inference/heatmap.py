"""Evidence heatmaps: turn the model's CAM into colours laid over the film (numpy + Pillow only).

The CAM is the per-location logit contribution; its spatial mean is the film's logit. The display maps it
honestly:

* **Positive evidence only**, measured from a reference logit (by default the model card's operating
  threshold, so colour means "this region alone would push the film over the line"). Regions arguing for
  NORMAL are not coloured at all.
* **A fixed logit scale**, not the film's own maximum: a film with no evidence stays cold instead of being
  normalised up to red, and two films' colours are comparable. ``adaptive=True`` raises the scale to a
  film's peak when it exceeds the fixed one (so very strong films keep their internal contrast); it never
  lowers it, so weak evidence is never painted hot.
* **Colour strength follows evidence**: the overlay's opacity is proportional to the mapped value, so
  evidence-free regions show the plain film.

The CAM covers the whole squashed square model input, which is the whole film, so it is stretched
bilinearly to the film's W x H to line up.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

#: Logits above the reference that map to the hottest colour. A region contributing +4 logits on its own
#: corresponds to p ≈ 0.98 if the whole film looked like it: unmistakable evidence.
DEFAULT_LOGIT_SCALE = 4.0
DEFAULT_OPACITY = 0.45

# matplotlib's "inferno" (CC0, van der Walt & Smith), sampled at 17 of its 256 entries; interpolating
# linearly between them reproduces it within about one 8-bit step. Perceptually uniform and monotonic in
# lightness, so brighter always means more evidence, also in greyscale print and for colour-blind readers.
_INFERNO_AT = np.array([0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 255]) / 255.0
_INFERNO_RGB = np.array([
    [0.001462, 0.000466, 0.013866], [0.042253, 0.028139, 0.141141], [0.129285, 0.047293, 0.290788],
    [0.238273, 0.036621, 0.396353], [0.341500, 0.062325, 0.429425], [0.441207, 0.099338, 0.431594],
    [0.540920, 0.134729, 0.415123], [0.640135, 0.171438, 0.381065], [0.735683, 0.215906, 0.330245],
    [0.822386, 0.275197, 0.266085], [0.894305, 0.353399, 0.193584], [0.946965, 0.449191, 0.115272],
    [0.978422, 0.557937, 0.034931], [0.987874, 0.675267, 0.065257], [0.974638, 0.797692, 0.206332],
    [0.947594, 0.917399, 0.410665], [0.988362, 0.998364, 0.644924],
])


def _lut(at: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, at, rgb[:, c]) for c in range(3)], axis=1)
    return (table * 255).round().astype(np.uint8)


COLORMAPS: dict[str, np.ndarray] = {"inferno": _lut(_INFERNO_AT, _INFERNO_RGB)}


def logit(p: float) -> float:
    """Probability -> logit, clamped away from 0 and 1."""
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def cam_to_unit(
    cam: np.ndarray,
    *,
    threshold: float | None = None,
    reference: float | None = None,
    scale: float = DEFAULT_LOGIT_SCALE,
    adaptive: bool = False,
) -> np.ndarray:
    """CAM logit map (any shape) -> float32 in [0, 1] for display, same shape.

    ``value = clip((cam - reference) / scale, 0, 1)``. The reference is ``reference`` if given, else the
    logit of ``threshold`` (pass the model card's threshold), else 0 (even odds). Non-finite cells map to 0.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if reference is None:
        reference = logit(threshold) if threshold is not None else 0.0
    c = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=-np.inf, posinf=-np.inf)
    excess = c - np.float32(reference)
    if adaptive and excess.size:
        peak = float(np.max(excess))
        if np.isfinite(peak):
            scale = max(scale, peak)
    return np.clip(excess / np.float32(scale), 0.0, 1.0).astype(np.float32)


def colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Values in [0, 1] (any shape) -> RGB uint8 (..., 3). Out-of-range values clip; NaN maps to 0."""
    lut = COLORMAPS[name]
    v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    idx = np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)
    return lut[idx]


def to_display_gray(pixels: np.ndarray) -> np.ndarray:
    """Display-ready grayscale film -> uint8 (H, W), keeping the film's own windowing.

    Follows the Film contract: uint8 is 0..255, uint16 is 0..65535, float is 0..1 (as windowed by the
    decoder), so a dark film stays dark. Anything else (float outside [0, 1], signed or other integer
    types) is not display-ready and is min-max stretched. RGB is averaged.
    """
    arr = np.asarray(pixels)
    if arr.ndim == 3:
        arr = arr[..., :3].mean(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale film, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    f = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        return (f * 255.0 + 0.5).astype(np.uint8)
    if hi - lo < 1e-12:
        return np.zeros(f.shape, np.uint8)
    return ((f - lo) * (255.0 / (hi - lo)) + 0.5).astype(np.uint8)


def upsample(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Stretch a 2-D map bilinearly to ``size`` = (W, H); each cell covers its share of the whole film."""
    img = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def overlay(
    film_pixels_gray: np.ndarray,
    cam: np.ndarray,
    opacity: float = DEFAULT_OPACITY,
    *,
    threshold: float | None = None,
    reference: float | None = None,
    scale: float = DEFAULT_LOGIT_SCALE,
    adaptive: bool = False,
    cmap: str = "inferno",
) -> Image.Image:
    """The film with its evidence heatmap blended on top, as an RGB image of the film's own size.

    Per pixel, ``alpha = opacity * value`` where value is :func:`cam_to_unit` of the CAM stretched to the
    film, so colour appears only where the model found evidence, in proportion to it.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity}")
    gray = to_display_gray(film_pixels_gray)
    h, w = gray.shape
    cam2 = np.asarray(cam, dtype=np.float32)
    if cam2.ndim == 3 and cam2.shape[0] == 1:
        cam2 = cam2[0]
    if cam2.ndim != 2:
        raise ValueError(f"expected a 2-D CAM, got shape {cam2.shape}")
    unit = cam_to_unit(cam2, threshold=threshold, reference=reference, scale=scale, adaptive=adaptive)
    full = np.clip(upsample(unit, (w, h)), 0.0, 1.0)
    colour = colormap(full, cmap)
    alpha = full
    alpha *= np.float32(opacity)
    base = gray.astype(np.float32)
    out = np.empty((h, w, 3), np.uint8)
    for c in range(3):  # channel by channel, in place: half the time and memory of one broadcast blend
        ch = colour[..., c].astype(np.float32)
        ch -= base
        ch *= alpha
        ch += base
        ch += 0.5  # round; the result is within [0, 255.5), so the uint8 cast cannot wrap
        out[..., c] = ch
    return Image.fromarray(out)
