import os
from pathlib import Path

import pytest

pytest.importorskip("torch")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "pediatric-cxr"
SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA / "manifest.csv").is_file():
        pytest.skip(f"training data not found at {DATA}")
    return DATA


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
