"""The scope gate is runtime: it must load without torch, Qt or scikit-learn."""

import subprocess
import sys


def test_scope_imports_neither_torch_nor_qt() -> None:
    code = "import sys, xrayviewer.scope; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    heavy = {"torch", "torchvision", "PySide6", "shiboken6", "pyqtgraph", "sklearn", "onnxruntime", "skimage"}
    assert not {m for m in loaded if m.split(".")[0] in heavy}
