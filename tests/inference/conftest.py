"""Shared fixtures for inference tests: copies of the sample films (the tiny model comes from tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from xrayviewer.paths import samples_dir


@pytest.fixture(scope="session")
def sample_films() -> list[Path]:
    films = sorted(samples_dir().glob("*.jpeg"))
    assert len(films) == 16, f"expected the 16 bundled sample films in {samples_dir()}"
    return films


@pytest.fixture
def film_folder(tmp_path: Path, sample_films: list[Path]) -> Path:
    """A few sample films plus a corrupt one, in a nested folder."""
    root = tmp_path / "films"
    (root / "sub").mkdir(parents=True)
    for p in sample_films[:3]:
        shutil.copy(p, root / p.name)
    shutil.copy(sample_films[-1], root / "sub" / sample_films[-1].name)
    (root / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    return root
