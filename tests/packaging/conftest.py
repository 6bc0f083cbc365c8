"""A wheel built from this checkout and installed into a fresh venv, once per session.

Built the way `python -m build` does it (sdist first, then the wheel from the unpacked sdist, through
setuptools' PEP 517 hooks with this venv's setuptools: nothing downloaded), so a file missing from the
sdist shows up too. The wheel goes in with `--no-index`; its runtime dependencies come from the package
index through pip's cache (a real user's install), or, with XRAYVIEWER_WHEEL_DEPS=venv (offline
machines), from this venv's site-packages through a .pth file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What the sdist build reads (pyproject.toml, setup.py and MANIFEST.in name nothing else).
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "xrayviewer", "models",
                "resources", "packaging/datafiles.py")
DEPS_ENV = "XRAYVIEWER_WHEEL_DEPS"


@dataclass(frozen=True)
class InstalledWheel:
    sdist: Path
    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "xrayviewer"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment minus anything that would point Python or xrayviewer back at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "XRAYVIEWER_HOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def _run(cmd: list[str | Path], cwd: Path, timeout: float = 600) -> str:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _copy_build_inputs(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        else:
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


def _pep517(hook: str, src: Path, out: Path) -> Path:
    """Run a setuptools PEP 517 hook in SRC (a subprocess: setuptools keeps global state) -> the artefact."""
    code = f"import setuptools.build_meta as b; print(b.{hook}({str(out)!r}))"
    name = _run([sys.executable, "-c", code], cwd=src).strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "checkout"
    _copy_build_inputs(src)
    sdist = _pep517("build_sdist", src, tmp / "dist")
    with tarfile.open(sdist) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python < 3.10.12
        tar.extractall(tmp / "unpacked", **safe)
    wheel = _pep517("build_wheel", next((tmp / "unpacked").iterdir()), tmp / "dist")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q"]
    if os.environ.get(DEPS_ENV) == "venv":
        _run([*pip, "--no-index", "--no-deps", wheel], cwd=tmp)
        # Appended after the venv's own site-packages, and its .pth files (our editable install) stay inert.
        site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         cwd=tmp).strip())
        here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        (site / "zz-dev-venv-deps.pth").write_text("\n".join(sorted(here)) + "\n", encoding="utf-8")
    else:
        _run([*pip, wheel], cwd=tmp)
    return InstalledWheel(sdist=sdist, wheel=wheel, venv=venv)
