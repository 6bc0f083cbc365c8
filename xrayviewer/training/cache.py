"""Decode and preprocess every film once; training then reads a compact array.

Decoding costs as much as a training step on this CPU, so films are cached at the model's input size
(float16, ~75 KB a film at 192 px) through the very same `load_film` + `preprocess` path inference uses.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from xrayviewer.films import FilmError, load_film
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.training.datasets import Sample

log = logging.getLogger(__name__)


def _prepare(path: Path, size: int, dtype: type = np.float16) -> np.ndarray | None:
    try:
        return preprocess(load_film(path, min_size=size).pixels, size).astype(dtype)
    except (FilmError, ValueError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return None


def _prepare_all(samples: list[Sample], size: int, dtype: type, workers: int,
                 desc: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode + preprocess in a thread pool: (images [N,S,S] of `dtype`, ok mask [N])."""
    images: np.ndarray = np.zeros((len(samples), size, size), dtype)
    ok = np.zeros(len(samples), bool)
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda s: _prepare(s.path, size, dtype), samples)
        if desc:
            results = tqdm(results, total=len(samples), desc=desc, unit="film")
        for i, img in enumerate(results):
            if img is not None:
                images[i], ok[i] = img, True
    return images, ok


def exact_images(samples: list[Sample], size: int, workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(float32 images [N,S,S], ok mask [N]) exactly as the runtime feeds them to the model.

    The threshold and the model card's metrics are computed on these, not on the float16 cache, so the
    card agrees with what `xrayviewer score` and `evaluate` see film for film.
    """
    return _prepare_all(samples, size, np.float32, workers)


def cached_images(samples: list[Sample], size: int, cache_dir: Path | None,
                  workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Return (images float16 [N,S,S], ok mask [N]) for `samples`, from the cache when it matches."""
    key = hashlib.sha256(f"{size}\n".encode() + "\n".join(str(s.path) for s in samples).encode(
        "utf-8", "surrogateescape")).hexdigest()[:16]
    file = cache_dir / f"films-{size}px-{key}.npz" if cache_dir else None
    if file and file.is_file():
        with np.load(file) as z:
            return z["images"], z["ok"]
    images, ok = _prepare_all(samples, size, np.float16, workers, desc=f"decoding films at {size} px")
    if file:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, ok=ok)
        tmp.replace(file)
    return images, ok
