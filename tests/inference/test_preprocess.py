"""The shared preprocessing: square float32 in [0, 1], squashing (not letterboxing) whatever comes in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xrayviewer.inference.preprocess import preprocess


def _gradient(h: int, w: int) -> np.ndarray:
    return np.add.outer(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_shape_range_dtype(dtype) -> None:
    g = _gradient(300, 200)
    info = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    film = (g / g.max() * info).astype(dtype)
    out = preprocess(film, 64)
    assert out.shape == (64, 64)
    assert out.dtype == np.float32
    assert out.min() == pytest.approx(0.0, abs=1e-6)
    assert out.max() == pytest.approx(1.0, abs=1e-6)


def test_bit_depths_agree() -> None:
    """8-bit, 16-bit and float versions of one film look alike to the network."""
    g = _gradient(256, 256) / 510.0
    a = preprocess((g * 255).astype(np.uint8), 64)
    b = preprocess((g * 65535).astype(np.uint16), 64)
    c = preprocess(g.astype(np.float32) * 3000 - 1000, 64)
    np.testing.assert_allclose(a, b, atol=0.01)
    np.testing.assert_allclose(b, c, atol=0.01)


def test_constant_image_is_zeros() -> None:
    out = preprocess(np.full((100, 80), 37, np.uint16), 32)
    assert out.shape == (32, 32)
    assert not out.any()


def test_non_finite_values_are_tolerated() -> None:
    film = _gradient(50, 50).astype(np.float32)
    film[0, 0] = np.nan
    film[1, 1] = np.inf
    out = preprocess(film, 16)
    assert np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_rgb_is_averaged_to_gray() -> None:
    gray = (_gradient(120, 90) % 256).astype(np.uint8)
    rgb = np.stack([gray] * 3, axis=2)
    np.testing.assert_allclose(preprocess(rgb, 32), preprocess(gray, 32), atol=0.01)  # L vs F rounding


def test_squash_not_keep_aspect() -> None:
    """A wide film fills the whole square: its left and right halves land in the left and right halves."""
    film = np.zeros((100, 400), np.uint8)
    film[:, 200:] = 255
    out = preprocess(film, 32)
    assert out[:, :15].max() == 0.0  # no letterbox bars, the dark half spans the full height
    assert out[:, 17:].min() == 1.0
    assert (out[0] == out[-1]).all()


@pytest.mark.parametrize("bad", [np.zeros((5,)), np.zeros((1, 10)), np.zeros((2, 3, 4, 5))])
def test_rejects_non_films(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="2-D grayscale"):
        preprocess(bad, 32)


@pytest.mark.parametrize("size", [4, 512])
def test_rejects_bad_sizes(size: int) -> None:
    with pytest.raises(ValueError, match="input size"):
        preprocess(np.zeros((10, 10), np.uint8), size)


def test_squashed_copy_agrees_with_original(sample_films: list[Path], tmp_path: Path) -> None:
    """3,591 training films exist only as 224x224 squashed JPEGs: they must look like their originals."""
    src = sample_films[0]
    with Image.open(src) as im:
        original = np.asarray(im.convert("L"))
        copy_path = tmp_path / "copy.jpeg"
        im.convert("L").resize((224, 224), Image.Resampling.LANCZOS).save(copy_path, quality=75)
    with Image.open(copy_path) as im:
        copy = np.asarray(im)
    assert copy.shape == (224, 224) and original.shape != (224, 224)
    a, b = preprocess(original, 224), preprocess(copy, 224)
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr > 0.98, corr
