"""Real sample films written as DX DICOMs (pydicom), shrunk so the tests stay quick."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset

from tests.films.testkit import make_dataset, sample_files, save, shrink


def sample_gray(index: int = 0, width: int = 320) -> np.ndarray:
    return shrink(np.asarray(Image.open(sample_files()[index]).convert("L")), width)


def dx_film(path: Path, *, index: int = 0, study_uid: str | None = None, width: int = 320, **attrs: object) -> Path:
    """A DX film of sample ``index`` at ``path``; ``study_uid`` puts several films in one study."""
    ds: Dataset = make_dataset(sample_gray(index, width), StudyID="S1", StudyTime="101500", **attrs)
    if study_uid is not None:
        ds.StudyInstanceUID = study_uid
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(ds, path)


def new_uid() -> str:
    return uid.generate_uid()
