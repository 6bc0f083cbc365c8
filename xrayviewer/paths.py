"""Where bundled data lives, whether run from a checkout, an installed wheel or a PyInstaller build.

The data root holds `models/` (the bundled classifier and its card) and `resources/samples/` (the sample
study). Its source is the checkout's top level; a wheel carries a copy in `xrayviewer/bundled/` (setup.py,
rule in packaging/datafiles.py) and the PyInstaller build one beside the app (sys._MEIPASS).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PKG = Path(__file__).resolve().parent
#: Overrides every other location (IT-managed installs, a model kept on a share).
HOME_ENV = "XRAYVIEWER_HOME"
#: Inside an installed package: where setup.py's build step puts the data.
BUNDLED_DIR = _PKG / "bundled"


def _has_data(folder: Path) -> bool:
    return (folder / "models").is_dir() or (folder / "resources").is_dir()


def data_root() -> Path:
    """Folder holding `models/` and `resources/`.

    Order: $XRAYVIEWER_HOME, the PyInstaller bundle, the source checkout (editable installs too), the
    installed package's `bundled/`, `<prefix>/share/xrayviewer`. The checkout only counts when it is one
    (pyproject.toml beside it): an installed package's parent is site-packages, where another project's
    stray top-level `models/` must not be taken for ours.
    """
    candidates: list[Path] = []
    if env := os.environ.get(HOME_ENV):
        candidates.append(Path(env))
    if bundle := getattr(sys, "_MEIPASS", None):
        candidates.append(Path(bundle))
    if (_PKG.parent / "pyproject.toml").is_file():
        candidates.append(_PKG.parent)
    candidates += [BUNDLED_DIR, Path(sys.prefix) / "share" / "xrayviewer"]
    for c in candidates:
        if _has_data(c):
            return c
    return candidates[0]  # nothing bundled anywhere: error messages name the first place looked


def models_dir() -> Path:
    return data_root() / "models"


def samples_dir() -> Path:
    return data_root() / "resources" / "samples"


def default_model_path() -> Path:
    """The bundled classifier: the one place that decides it (CLI, GUI, bench and scripts call this).

    Among models/*.onnx, those with a `.card.json` beside them (as `xrayviewer train` exports one), so
    a helper model shipped alongside is not taken for it; the last by name if several (of all of them
    when none has a card). Returns a path that may not exist when no model is bundled; callers say so
    and ask for --model.
    """
    found = sorted(p for p in models_dir().glob("*.onnx") if ".tmp." not in p.name)
    if not found:
        return models_dir() / "xrayviewer-pneumonia.onnx"
    carded = [p for p in found if p.with_suffix(".card.json").is_file()]
    return (carded or found)[-1]
