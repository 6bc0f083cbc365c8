"""`pip install` gives a working app: the wheel carries the model(s), their cards and the sample study.

The lead replaces models/ with new files under any names, so the expectations are read from the checkout
(every models/*.onnx and *.card.json), never hard-coded. Runs in the normal suite (~15-30 s, most of it
pip installing the runtime dependencies from its cache); `-m "not install"` leaves it out.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, InstalledWheel, clean_env
from xrayviewer.paths import default_model_path

pytestmark = pytest.mark.install

SAMPLES = sorted(p for p in (ROOT / "resources" / "samples").iterdir() if p.is_file())


def checkout_model_files() -> list[Path]:
    files = [p for pattern in ("*.onnx", "*.card.json") for p in (ROOT / "models").glob(pattern)]
    return sorted(p for p in files if ".tmp." not in p.name)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_sdist_carries_the_build_inputs(installed_wheel: InstalledWheel) -> None:
    with tarfile.open(installed_wheel.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    expected = {f"models/{p.name}" for p in checkout_model_files()} | {f"resources/samples/{p.name}" for p in SAMPLES}
    assert expected | {"setup.py", "packaging/datafiles.py", "pyproject.toml"} <= names


def test_wheel_carries_every_model_file_and_the_samples(installed_wheel: InstalledWheel) -> None:
    assert checkout_model_files(), "models/ has no *.onnx or *.card.json to ship"
    with zipfile.ZipFile(installed_wheel.wheel) as whl:
        names = set(whl.namelist())
        for src in checkout_model_files():
            name = f"xrayviewer/bundled/models/{src.name}"
            assert name in names, f"{src.name} is not in the wheel"
            assert sha256(whl.read(name)) == sha256(src.read_bytes()), f"{src.name} differs in the wheel"
        for src in SAMPLES:
            assert f"xrayviewer/bundled/resources/samples/{src.name}" in names
    # Nothing at the top of site-packages but our package and its metadata (no stray models/, resources/).
    tops = {n.split("/")[0] for n in names}
    assert all(t == "xrayviewer" or (t.startswith("xrayviewer-") and t.endswith(".dist-info")) for t in tops), tops


def test_installed_package_finds_its_data_inside_the_venv(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    code = ("import json, xrayviewer, xrayviewer.paths as p; print(json.dumps({'pkg': xrayviewer.__file__, "
            "'root': str(p.data_root()), 'model': str(p.default_model_path()), 'samples': str(p.samples_dir())}))")
    r = subprocess.run([str(installed_wheel.python), "-c", code], cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    found = {k: Path(v) for k, v in json.loads(r.stdout).items()}
    venv = installed_wheel.venv.resolve()
    for key, path in found.items():
        assert path.resolve().is_relative_to(venv), f"{key} {path} is not inside the fresh venv"
    assert found["model"].is_file() and found["model"].name == default_model_path().name
    assert sorted(p.name for p in found["samples"].iterdir()) == [p.name for p in SAMPLES]


def test_installed_cli_scores_the_samples_with_no_model_option(installed_wheel: InstalledWheel,
                                                               tmp_path: Path) -> None:
    """What the issue's user ran: `xrayviewer score resources/samples --csv s.csv`, no --model."""
    out = tmp_path / "s.csv"
    r = subprocess.run([str(installed_wheel.exe), "score", str(ROOT / "resources" / "samples"), "--csv", str(out),
                        "-q"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    films = [p for p in SAMPLES if p.suffix == ".jpeg"]
    assert sorted(r["path"] for r in rows) == [p.name for p in films]
    assert all(r["status"] == "ok" and 0.0 <= float(r["pneumonia_probability"]) <= 1.0 for r in rows)
    sidecar = default_model_path().with_suffix(".card.json")  # the card also lives inside the ONNX file
    expected_id = json.loads(sidecar.read_text(encoding="utf-8"))["id"] if sidecar.is_file() else rows[0]["model_id"]
    assert expected_id and {r["model_id"] for r in rows} == {expected_id}
