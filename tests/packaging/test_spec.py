"""The PyInstaller spec and scripts ship what the runtime needs and nothing of the training stack.

Read statically (ast): building for real takes minutes and is packaging/build.sh's job.
"""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from xrayviewer.cli import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "xrayviewer.spec"


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def literal(name: str) -> object:
    """The value of a top-level `NAME = <literal>` in the spec."""
    for node in spec_tree().body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not assigned in the spec")


def test_spec_bundles_models_and_resources_by_the_wheels_rule() -> None:
    """The frozen build and the wheel ship the same data: both ask packaging/datafiles.py."""
    text = SPEC.read_text(encoding="utf-8")
    assert '"packaging" / "datafiles.py"' in text and "shipped_files(ROOT)" in text
    assert "datafiles.py" in (ROOT / "setup.py").read_text(encoding="utf-8")


def test_spec_excludes_the_training_stack() -> None:
    excludes = set(literal("EXCLUDES"))  # type: ignore[arg-type]
    assert {"torch", "torchvision", "sklearn", "onnx", "onnxscript"} <= excludes
    assert not excludes & {"onnxruntime", "pydicom", "PySide6", "pyqtgraph", "numpy", "PIL"}


def test_spec_bundles_decoder_plugins_with_their_entry_points() -> None:
    plugins = literal("PLUGINS")
    assert set(plugins) >= {"pylibjpeg", "libjpeg", "openjpeg", "rle"}  # type: ignore[arg-type]
    text = SPEC.read_text(encoding="utf-8")
    assert "copy_metadata(" in text and "collect_all(" in text


def test_spec_bundles_every_runtime_subcommand() -> None:
    """The CLI imports subcommands by name, so the spec must name them; only train/evaluate stay out."""
    dev_only = tuple(literal("DEV_ONLY"))  # type: ignore[arg-type]
    shipped = [m for m in SUBCOMMANDS if not f"xrayviewer.cli.{m}".startswith(dev_only)]
    assert set(shipped) >= {"gui", "score", "review"}
    assert not any(m.startswith(dev_only) for m in ("xrayviewer.inference", "xrayviewer.films",
                                                    "xrayviewer.review", "xrayviewer.gui", "xrayviewer.applog"))
    assert 'collect_submodules("xrayviewer"' in SPEC.read_text(encoding="utf-8")


def test_entry_point_runs_the_cli() -> None:
    text = (PACKAGING / "entry.py").read_text(encoding="utf-8")
    assert "from xrayviewer.cli import main" in text and "install_crash_handler()" in text
    assert "packaging/entry.py" in SPEC.read_text(encoding="utf-8").replace('" / "', "/")


@pytest.mark.parametrize("script", ["build.sh", "check_build.sh", "install-desktop-entry.sh", "release-archive.sh"])
def test_shell_scripts_are_executable_and_parse(script: str) -> None:
    path = PACKAGING / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_build_outputs_are_ignored() -> None:
    lines = {ln.strip() for ln in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()}
    assert {"dist/", "build/"} <= lines
