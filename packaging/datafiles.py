"""Which checkout files an install carries: the bundled model(s) with their cards, and the sample study.

One rule for the wheel (setup.py's build step copies them into ``xrayviewer/bundled/``) and the
PyInstaller build (xrayviewer.spec puts them beside the app), so both ship the same files whatever the
model files are called. The repository's top-level ``models/`` and ``resources/`` stay the only source.
Standard library only: setup.py loads this file before anything is installed.
"""

from __future__ import annotations

from pathlib import Path

#: Model files an install needs: every ONNX model, its external weights if exported that way, its card.
MODEL_PATTERNS = ("*.onnx", "*.onnx.data", "*.card.json")
#: Half-written files (an export or copy in progress: `x.tmp.onnx`, `x.onnx.partial`) never ship.
TEMP_SUFFIXES = (".tmp", ".partial")


def _shippable(path: Path, base: Path) -> bool:
    rel = path.relative_to(base)
    if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
        return False
    return not (path.name.endswith(TEMP_SUFFIXES) or ".tmp." in path.name)


def model_files(root: Path) -> list[Path]:
    """The files under ROOT/models that ship, sorted (top level only: the runtime looks nowhere else)."""
    base = root / "models"
    found = {p for pattern in MODEL_PATTERNS for p in base.glob(pattern)}
    return sorted(p for p in found if _shippable(p, base))


def resource_files(root: Path) -> list[Path]:
    """Every file under ROOT/resources (the sample study and its attribution), sorted."""
    base = root / "resources"
    return sorted(p for p in base.rglob("*") if _shippable(p, base))


def shipped_files(root: Path) -> list[tuple[Path, str]]:
    """(source file, '/'-separated path relative to the data root) for everything an install carries."""
    return [(p, p.relative_to(root).as_posix()) for p in model_files(root) + resource_files(root)]
