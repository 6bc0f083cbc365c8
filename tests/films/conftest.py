"""Session fixtures for film tests: one real sample film, shrunk so generated files stay small and fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .testkit import sample_files, shrink


@pytest.fixture(scope="session")
def sample_paths() -> list[Path]:
    files = sample_files()
    assert len(files) == 16, "expected the 16 bundled sample films in resources/samples"
    return files


@pytest.fixture(scope="session")
def source_gray(sample_paths: list[Path]) -> np.ndarray:
    """A real chest film as uint8, 512 px wide (non-square, so orientation mistakes show)."""
    with Image.open(sample_paths[0]) as img:
        return shrink(np.asarray(img.convert("L")), 512)


@pytest.fixture(scope="session")
def source12(source_gray: np.ndarray) -> np.ndarray:
    """The same film as 12-bit values in uint16 (0..4095), as a DR detector would store it."""
    g = source_gray.astype(np.uint16)
    return (g << 4) | (g >> 4)


@pytest.fixture(scope="session")
def films_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("films")
