"""Build step only (the project itself is configured in pyproject.toml): the wheel carries its model.

The checkout keeps the bundled model(s), their cards and the sample study in the top-level `models/` and
`resources/` (their only source; a checkout or editable install reads them there). A built wheel gets a
copy under `xrayviewer/bundled/`, where xrayviewer.paths finds them once installed, so `pip install .`
or a wheel from an index can score with no `--model`. What ships is packaging/datafiles.py's rule, the
same one the PyInstaller spec uses.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = Path("xrayviewer") / "bundled"  # keep in step with xrayviewer/paths.py


def _datafiles() -> ModuleType:
    spec = importlib.util.spec_from_file_location("xrayviewer_datafiles", ROOT / "packaging" / "datafiles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithData(build_py):
    """build_py, then the bundled data into build_lib/xrayviewer/bundled/ (skipped for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the editable package sits in the checkout, next to models/ and resources/
        dest = Path(self.build_lib) / BUNDLED
        shutil.rmtree(dest, ignore_errors=True)  # a reused build/ must not keep a replaced model
        files = _datafiles().shipped_files(ROOT)
        if not any(rel.endswith(".onnx") for _, rel in files):
            msg = f"no *.onnx in {ROOT / 'models'}: the wheel has no bundled model (score/gui then need --model)"
            if os.environ.get("XRAYVIEWER_REQUIRE_MODEL") == "1":
                raise SystemExit("error: " + msg)
            print("WARNING: " + msg)
        for src, rel in files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        dest = Path(self.build_lib) / BUNDLED
        return outputs + [str(dest / rel) for _, rel in _datafiles().shipped_files(ROOT)]


setup(cmdclass={"build_py": BuildPyWithData})
