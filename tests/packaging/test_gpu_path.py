"""The GPU path: a `gpu` extra beside the CPU default, the provider that ran is logged, the bench covers each.

No GPU here: these check the plumbing a GPU user relies on (which provider `auto` resolved to is said,
the bench picks up CUDA when onnxruntime offers it), not CUDA itself.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_score", ROOT / "bench" / "bench_score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cpu_stays_the_default_and_the_gpu_extra_brings_the_cuda_build() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    deps = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S)
    assert deps and re.search(r'"onnxruntime[>=<!~ ]', deps.group(1))
    gpu = re.search(r"^gpu = \[(.*?)\]", text, re.M | re.S)
    assert gpu and '"onnxruntime-gpu' in gpu.group(1)


def test_provider_auto_logs_which_provider_ran(tiny_model: Path, tmp_path: Path) -> None:
    films = tmp_path / "films"
    films.mkdir()
    for src in sorted(SAMPLES.glob("*.jpeg"))[:2]:
        (films / src.name).write_bytes(src.read_bytes())
    cli = "import sys; from xrayviewer.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-c", cli, "-v", "score", str(films), "--csv",
                        str(tmp_path / "out.csv"), "--model", str(tiny_model), "--provider", "auto", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ran = re.search(r"onnxruntime provider (CPU|CUDA) for tiny\.onnx \(asked: auto; session: ([\w, ]+)\)", r.stderr)
    assert ran, r.stderr
    assert ("CUDAExecutionProvider" in ran.group(2)) == (ran.group(1) == "CUDA")


@pytest.mark.parametrize(("available", "expected"), [
    (["CPUExecutionProvider"], ["cpu"]),
    (["AzureExecutionProvider", "CPUExecutionProvider"], ["cpu"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], ["cpu", "cuda"]),
])
def test_bench_runs_every_provider_available(available: list[str], expected: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    bench = load_bench()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: available)
    assert bench.providers_to_run("all") == expected
    assert bench.providers_to_run("cpu") == ["cpu"]
