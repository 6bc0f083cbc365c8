"""Suite-wide isolation: logs, settings and data go to temporary folders, never the user's."""

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("userdirs")
    keep = {k: os.environ.get(k) for k in ("XRAYVIEWER_LOG_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                                             "XDG_STATE_HOME", "XDG_CACHE_HOME")}
    os.environ["XRAYVIEWER_LOG_DIR"] = str(root / "log")
    for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[k] = str(root / k.lower())
    yield
    for k, v in keep.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny contract-compliant ONNX model (tests/helpers/tiny_model.py), built once per session."""
    from tests.helpers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")
