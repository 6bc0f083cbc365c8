"""Report images drawn with Pillow: gallery tiles (film beside its heat map) and feature-map grids.

No Qt here: these are pixels, not plots. The heat map itself comes from
:mod:`xrayviewer.inference.heatmap`, so the report shows exactly what the viewer shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from xrayviewer.inference.heatmap import colormap, overlay, to_display_gray

THUMB = 256
GAP = 4
FEATURE_CHANNELS = 16
FEATURE_CELL = 96  # px per channel tile: small maps (6x6) are blown up with NEAREST so cells stay visible


def _fit(gray: np.ndarray, long_edge: int) -> np.ndarray:
    """Shrink (never enlarge) a uint8 film so its long edge is ``long_edge``."""
    h, w = gray.shape
    s = min(1.0, long_edge / max(h, w))
    if s >= 1.0:
        return gray
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def gallery_tile(film_path: Path, cam: np.ndarray, threshold: float, size: int = THUMB) -> Image.Image:
    """The film and the same film under its evidence heat map, side by side, each ``size`` px high at most.

    Showing the plain film next to the overlay lets a reader see what the colour covers.
    """
    from xrayviewer.films import load_film

    film = load_film(film_path, min_size=size)
    gray = _fit(to_display_gray(film.pixels), size)
    heat = overlay(gray, cam, threshold=threshold)
    h, w = gray.shape
    tile = Image.new("RGB", (2 * w + GAP, h), "white")
    tile.paste(Image.fromarray(gray).convert("RGB"), (0, 0))
    tile.paste(heat, (w + GAP, 0))
    return tile


def _unit(a: np.ndarray) -> np.ndarray:
    """Per-channel min-max to [0, 1]: each channel's own contrast; a flat channel stays black."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float32))
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(a)


def feature_grid(fmap: np.ndarray, channels: int = FEATURE_CHANNELS, cell: int = FEATURE_CELL) -> Image.Image:
    """The first ``channels`` maps of a [C, h, w] activation tiled in a square grid (inferno colours)."""
    fmap = np.asarray(fmap)
    if fmap.ndim != 3:
        raise ValueError(f"expected a [C, h, w] feature map, got shape {fmap.shape}")
    c = min(channels, fmap.shape[0])
    cols = int(np.ceil(np.sqrt(c)))
    rows = int(np.ceil(c / cols))
    h, w = fmap.shape[1:]
    scale = max(1, cell // max(h, w))
    th, tw = h * scale, w * scale
    grid = Image.new("RGB", (cols * tw + (cols - 1) * GAP, rows * th + (rows - 1) * GAP), (255, 255, 255))
    for i in range(c):
        tile = Image.fromarray(colormap(_unit(fmap[i]))).resize((tw, th), Image.Resampling.NEAREST)
        grid.paste(tile, ((i % cols) * (tw + GAP), (i // cols) * (th + GAP)))
    return grid


def model_input(image: np.ndarray, size: int = 2 * FEATURE_CELL) -> Image.Image:
    """The preprocessed [S, S] input in [0, 1] as the network sees it (squashed square)."""
    arr = (np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(arr).resize((size, size), Image.Resampling.BILINEAR).convert("RGB")


def save_png(img: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=False, compress_level=6)
    return path
