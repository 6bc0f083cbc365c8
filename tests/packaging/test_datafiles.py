"""What an install carries (packaging/datafiles.py) and where an installed package looks for it (paths.py)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


datafiles = load(ROOT / "packaging" / "datafiles.py", "xrayviewer_datafiles")


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_every_model_and_card_ships_whatever_its_name(tmp_path: Path) -> None:
    for name in ("new-model-a.onnx", "new-model-a.card.json", "b.onnx", "b.onnx.data", "b.card.json"):
        touch(tmp_path / "models" / name)
    for name in ("a.history.json", "best.pt", "x.tmp.onnx", "c.onnx.partial", ".hidden.onnx", "notes.txt",
                 "sub/deep.onnx"):
        touch(tmp_path / "models" / name)
    touch(tmp_path / "resources" / "samples" / "a.jpeg")
    touch(tmp_path / "resources" / "samples" / "ATTRIBUTION.md")
    touch(tmp_path / "resources" / "samples" / "__pycache__" / "x.pyc")
    shipped = [rel for _, rel in datafiles.shipped_files(tmp_path)]
    assert shipped == ["models/b.card.json", "models/b.onnx", "models/b.onnx.data", "models/new-model-a.card.json",
                       "models/new-model-a.onnx", "resources/samples/ATTRIBUTION.md", "resources/samples/a.jpeg"]


def test_the_checkout_ships_its_model_card_and_samples() -> None:
    shipped = {rel for _, rel in datafiles.shipped_files(ROOT)}
    for model in (ROOT / "models").glob("*.onnx"):
        assert f"models/{model.name}" in shipped
    for card in (ROOT / "models").glob("*.card.json"):
        assert f"models/{card.name}" in shipped
    films = sorted((ROOT / "resources" / "samples").glob("*.jpeg"))
    assert len(films) == 16 and {f"resources/samples/{f.name}" for f in films} <= shipped


@pytest.fixture
def installed_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Path]:
    """xrayviewer/paths.py as a wheel installs it: site-packages/xrayviewer/{paths.py, bundled/}."""
    monkeypatch.delenv("XRAYVIEWER_HOME", raising=False)
    site = tmp_path / "site-packages"
    pkg = site / "xrayviewer"
    pkg.mkdir(parents=True)
    shutil.copy(ROOT / "xrayviewer" / "paths.py", pkg / "paths.py")
    touch(pkg / "bundled" / "models" / "model-v3.onnx")
    touch(pkg / "bundled" / "resources" / "samples" / "a.jpeg")
    return load(pkg / "paths.py", "installed_paths"), pkg


def test_installed_package_finds_its_bundled_data(installed_paths: tuple[ModuleType, Path]) -> None:
    paths, pkg = installed_paths
    assert paths.data_root() == pkg / "bundled"
    assert paths.default_model_path() == pkg / "bundled" / "models" / "model-v3.onnx"
    assert paths.samples_dir() == pkg / "bundled" / "resources" / "samples"


def test_a_stray_models_folder_in_site_packages_is_not_ours(installed_paths: tuple[ModuleType, Path]) -> None:
    paths, pkg = installed_paths
    touch(pkg.parent / "models" / "someone-elses.onnx")  # another project's top-level `models` package
    assert paths.default_model_path() == pkg / "bundled" / "models" / "model-v3.onnx"


def test_xrayviewer_home_overrides_the_bundle(installed_paths: tuple[ModuleType, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    paths, _ = installed_paths
    home = tmp_path / "it-managed"
    touch(home / "models" / "site-model.onnx")
    monkeypatch.setenv("XRAYVIEWER_HOME", str(home))
    assert paths.default_model_path() == home / "models" / "site-model.onnx"


def test_several_models_pick_the_last_by_name_and_skip_half_written_ones(
        installed_paths: tuple[ModuleType, Path]) -> None:
    paths, pkg = installed_paths
    touch(pkg / "bundled" / "models" / "model-v2.onnx")
    touch(pkg / "bundled" / "models" / "model-v4.tmp.onnx")
    assert paths.default_model_path().name == "model-v3.onnx"


def test_a_model_with_its_card_beside_it_wins_over_helper_models(installed_paths: tuple[ModuleType, Path]) -> None:
    """A new model may ship as several files: the classifier is the one exported with its card."""
    paths, pkg = installed_paths
    models = pkg / "bundled" / "models"
    touch(models / "a-classifier.onnx")
    touch(models / "a-classifier.card.json")
    touch(models / "z-ood-helper.onnx")
    assert paths.default_model_path() == models / "a-classifier.onnx"


def test_no_bundled_model_names_the_place_looked(installed_paths: tuple[ModuleType, Path]) -> None:
    paths, pkg = installed_paths
    shutil.rmtree(pkg / "bundled")
    assert paths.default_model_path() == pkg / "bundled" / "models" / "xrayviewer-pneumonia.onnx"
    assert not paths.default_model_path().exists()
