"""The core never imports Qt, and the runtime (core + CLI scoring) never imports torch."""

import subprocess
import sys

CORE = ["xrayviewer.films", "xrayviewer.inference.engine", "xrayviewer.inference.scoring",
        "xrayviewer.inference.preprocess", "xrayviewer.review", "xrayviewer.cli"]


def _loaded_after(modules: list[str]) -> set[str]:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "from xrayviewer.cli import build_parser; build_parser()\n"
            + "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_imports_neither_qt_nor_torch():
    loaded = _loaded_after(CORE)
    assert not {m for m in loaded if m.split(".")[0] in {"PySide6", "shiboken6", "pyqtgraph", "torch",
                                                          "torchvision", "sklearn"}}
