"""Where bundled data lives, whether run from a checkout, an install or a PyInstaller build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_root() -> Path:
    """Folder holding `models/` and `resources/`.

    Order: $XRAYVIEWER_HOME, the PyInstaller bundle, the source checkout, `<prefix>/share/xrayviewer`.
    """
    candidates: list[Path] = []
    if env := os.environ.get("XRAYVIEWER_HOME"):
        candidates.append(Path(env))
    if bundle := getattr(sys, "_MEIPASS", None):
        candidates.append(Path(bundle))
    candidates += [_PKG.parent, Path(sys.prefix) / "share" / "xrayviewer"]
    for c in candidates:
        if (c / "models").is_dir() or (c / "resources").is_dir():
            return c
    return _PKG.parent


def models_dir() -> Path:
    return data_root() / "models"


def samples_dir() -> Path:
    return data_root() / "resources" / "samples"


def default_model_path() -> Path:
    """The bundled classifier: the single `*.onnx` in models/ (the newest name if several)."""
    found = sorted(models_dir().glob("*.onnx"))
    if not found:
        return models_dir() / "xrayviewer-pneumonia.onnx"
    return found[-1]
