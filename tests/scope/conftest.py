"""Films for scope tests: real chest films from the bundled samples, non-chest images that installed
packages ship (scikit-image's sample data, scikit-learn's sample photographs) and images made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.films.testkit import sample_files, shrink


@pytest.fixture(scope="session")
def chest_gray() -> np.ndarray:
    """A real pediatric chest film as uint8, 512 px wide."""
    with Image.open(sample_files()[0]) as img:
        return shrink(np.asarray(img.convert("L")), 512)


def skimage_image(name: str) -> np.ndarray:
    """One of the images scikit-image ships inside its wheel (no download)."""
    data = pytest.importorskip("skimage.data")
    return np.asarray(getattr(data, name)())


def write_png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels).save(path, "PNG")
    return path


def write_jpeg(path: Path, pixels: np.ndarray, quality: int = 90) -> Path:
    Image.fromarray(pixels).save(path, "JPEG", quality=quality)
    return path
