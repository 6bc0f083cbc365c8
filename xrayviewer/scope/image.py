"""Cheap image checks for every film (JPEG and PNG have no header): blank, noise, colour, shape, polarity.

Each check refuses only what no chest film can look like; the thresholds leave wide margins around the
figures ``bench/scope_checks.py`` measures on all 5,232 training-data films and the bundled samples,
where none of these checks refuses a film. What looks subtly unlike a chest film is the OOD detector's
job, not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .result import Scope

# Measured on the 5,248 chest films (bench/scope_checks.py): lowest spread 0.35, lowest structure 0.88,
# colour 0 everywhere, widest aspect 3.18:1, lowest polarity -0.038 (median +0.25).

MIN_SPREAD = 0.04
"""Refuse when the middle 99 % of pixel values spans under 4 % of the film's full scale (a blank frame)."""

MIN_STRUCTURE = 0.50
"""Refuse when neighbouring pixels correlate below 0.5: noise, not anatomy."""

MAX_COLOUR = 0.05
"""Refuse when over 5 % of the source's pixels show visible colour (a photograph, a coloured screenshot)."""

MAX_ASPECT = 4.0
"""Refuse when the long edge exceeds 4 times the short one (the training data's widest crop is 3.2:1)."""

MAX_INVERSION = -0.10
"""Refuse when the lung fields are clearly brighter than the mediastinum: an inverted (negative) film.

Catches 97 % of the training films inverted (their polarity mirrored) and none of them upright.
"""

_SAMPLE_EDGE = 160  # every check looks at a strided sample about this size (a few ms per film at most)


@dataclass(frozen=True)
class ImageStats:
    """The figures the cheap checks look at (printed by ``bench/scope_checks.py``)."""

    spread: float  # (99.5th - 0.5th percentile) / full scale
    structure: float  # correlation of horizontally and vertically neighbouring samples
    colour: float  # Film.colour: fraction of the source's pixels in visible colour
    aspect: float  # long edge / short edge of the original film
    polarity: float  # (mediastinum - lung fields) mean brightness / spread; negative = inverted

    def checks(self) -> Scope:
        """Refusal reasons, in words for the reader; empty for anything a chest film could be."""
        reasons: list[str] = []
        if self.spread < MIN_SPREAD:
            reasons.append(f"blank or near-uniform image (values span {self.spread:.1%} of the range)")
        elif self.structure < MIN_STRUCTURE:
            reasons.append(f"image has no structure, like noise (neighbour correlation {self.structure:.2f})")
        if self.colour > MAX_COLOUR:
            reasons.append(f"colour image ({self.colour:.0%} of pixels in colour): a photograph, not a radiograph")
        if self.aspect > MAX_ASPECT:
            reasons.append(f"extreme aspect ratio {self.aspect:.1f}:1 (chest films are near square)")
        if self.spread >= MIN_SPREAD and self.polarity < MAX_INVERSION:
            reasons.append("inverted film: the lungs are brighter than the mediastinum (a negative image)")
        return Scope(reasons=tuple(reasons))


def image_stats(pixels: np.ndarray, original_size: tuple[int, int], colour: float = 0.0) -> ImageStats:
    """Figures for one decoded film (``Film.pixels``, ``Film.original_size``, ``Film.colour``)."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"expected a 2-D film, got shape {arr.shape}")
    w, h = original_size
    aspect = max(w, h) / max(1, min(w, h))
    step = max(1, int(np.ceil(max(arr.shape) / _SAMPLE_EDGE)))
    sample = arr[::step, ::step].astype(np.float64)
    sample = np.nan_to_num(sample, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    spread = float(hi - lo) / _full_scale(arr)
    return ImageStats(
        spread=spread,
        structure=_structure(sample),
        colour=float(colour),
        aspect=float(aspect),
        polarity=_polarity(sample, float(lo), float(hi)),
    )


def _full_scale(arr: np.ndarray) -> float:
    """The film's display range: 255 for uint8, 1.0 for float films, the bit depth in use for uint16.

    A 12-bit film stored in 16 bits has a 4095 full scale, not 65535; a near-constant uint16 frame gets
    the small power of two above its maximum, so it still reads as blank.
    """
    if arr.dtype == np.uint8:
        return 255.0
    if arr.dtype.kind == "f":
        return 1.0
    top = float(np.max(arr)) if arr.size else 0.0
    return float(2 ** max(8, int(np.ceil(np.log2(top + 1)))) - 1)


def _structure(sample: np.ndarray) -> float:
    """Mean of the horizontal and vertical lag-1 correlations; 1.0 for a constant sample."""
    corrs = []
    for a, b in ((sample[:, :-1], sample[:, 1:]), (sample[:-1, :], sample[1:, :])):
        if a.size < 4:
            continue
        a = a.ravel() - a.mean()
        b = b.ravel() - b.mean()
        denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
        corrs.append(float(np.sum(a * b)) / denom if denom > 0 else 1.0)
    return float(np.mean(corrs)) if corrs else 1.0


def _polarity(sample: np.ndarray, lo: float, hi: float) -> float:
    """How much brighter the central column (mediastinum, spine) is than the two lung fields.

    As fractions of the film: the centre strip is x 40-60 %, the lung fields x 15-35 % and 65-85 %, all
    over y 25-75 %. On a frontal chest film the mediastinum is denser (brighter); on a negative the lungs
    are.
    """
    h, w = sample.shape
    if hi <= lo or h < 4 or w < 8:
        return 0.0

    rows = slice(h * 25 // 100, h * 75 // 100)

    def cols(a: int, b: int) -> np.ndarray:
        return sample[rows, w * a // 100 : w * b // 100]

    lungs = np.concatenate([cols(15, 35).ravel(), cols(65, 85).ravel()])
    return float((cols(40, 60).mean() - lungs.mean()) / (hi - lo))
