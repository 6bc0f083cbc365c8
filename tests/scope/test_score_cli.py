"""`xrayviewer score` with the scope gate: out-of-scope films keep status ok, lose the model's call."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.films.testkit import make_dataset, save
from tests.scope.conftest import write_jpeg, write_png
from tests.scope.embedding_model import build_embedding_model, grey_photo
from xrayviewer.cli import main
from xrayviewer.inference.batch import COLUMNS
from xrayviewer.paths import samples_dir

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def emb_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_embedding_model(tmp_path_factory.mktemp("embmodel") / "emb.onnx")[0]


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Four chest films beside a mammogram, a lateral, a cine, a blank frame, a photo and a grey photo."""
    root = tmp_path / "study"
    root.mkdir()
    chests = sorted(samples_dir().glob("*.jpeg"))
    for p in chests[:4]:
        shutil.copy(p, root / p.name)
    with Image.open(chests[4]) as film:  # a chest film scanned upside down, and one shown mirrored (in scope)
        film.convert("L").rotate(180).save(root / "upside-down.jpeg", quality=92)
    with Image.open(chests[5]) as film:
        film.convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "mirrored.jpeg", quality=92)
    film = np.asarray(grey_photo("camera", (300, 300)))  # any pixels: the header decides first
    save(make_dataset(film, Modality="MG"), root / "mammo.dcm")
    save(make_dataset(film, ViewPosition="LL"), root / "lateral.dcm")
    save(make_dataset(np.stack([film] * 4), frames=4, Modality="XA"), root / "cine.dcm")
    write_png(root / "blank.png", np.full((300, 300), 90, np.uint8))
    from skimage import data

    write_jpeg(root / "astronaut.jpeg", np.asarray(data.astronaut()))
    write_png(root / "camera.png", grey_photo("camera"))  # grey, plausible contrast: the OOD detector's job
    return root


EXPECTED_OUT = {
    "mammo.dcm": "modality MG (mammography)",
    "lateral.dcm": "view LL (lateral)",
    "cine.dcm": "modality XA (X-ray angiography)",
    "blank.png": "blank or near-uniform image",
    "astronaut.jpeg": "colour image",
    "camera.png": "image unlike the chest films the model was trained on (OOD score",
    "upside-down.jpeg": "film appears turned or upside down",
}


def _rows(csv_path: Path) -> dict[str, dict[str, str]]:
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return {r["path"]: r for r in reader}


def test_out_of_scope_films_are_refused_with_a_reason(tmp_path: Path, study: Path, emb_model: Path) -> None:
    out = tmp_path / "scores.csv"
    heat = tmp_path / "heat"
    code = main(["score", str(study), "--csv", str(out), "--model", str(emb_model), "--heatmaps", str(heat), "-q"])
    assert code == 0  # exit codes are unchanged: every film was read
    rows = _rows(out)
    assert {"scope", "scope_reason", "warnings"} <= set(COLUMNS)
    for name, reason in EXPECTED_OUT.items():
        row = rows[name]
        assert row["status"] == "ok" and row["error"] == "", name
        assert row["scope"] == "out" and row["prediction"] == "OUT_OF_SCOPE", name
        assert row["pneumonia_probability"] == "" and row["borderline"] == "", name
        assert reason in row["scope_reason"], (name, row["scope_reason"])
        assert len(row["sha256"]) == 64
        assert not (heat / (name + ".png")).exists(), f"no heat map for out-of-scope {name}"
    chests = [r for n, r in rows.items() if n not in EXPECTED_OUT]
    assert len(chests) == 5 and "mirrored.jpeg" in rows  # mirrored left-right is still judged
    for row in chests:
        assert row["scope"] == "in" and row["scope_reason"] == "" and row["prediction"] in ("NORMAL", "PNEUMONIA")
        assert 0.0 <= float(row["pneumonia_probability"]) <= 1.0
        assert (heat / (row["path"] + ".png")).is_file()


def test_no_scope_gate_judges_everything_but_still_reports(tmp_path: Path, study: Path, emb_model: Path,
                                                           caplog: pytest.LogCaptureFixture,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scores.csv"
    with caplog.at_level(logging.WARNING):
        code = main(["score", str(study), "--csv", str(out), "--model", str(emb_model), "--no-scope-gate", "-q"])
    assert code == 0
    assert "scope gate is OFF" in caplog.text and "scope gate is OFF" in capsys.readouterr().err
    rows = _rows(out)
    for name in ("blank.png", "astronaut.jpeg", "camera.png", "mammo.dcm"):
        row = rows[name]
        assert row["prediction"] in ("NORMAL", "PNEUMONIA") and row["pneumonia_probability"] != "", name
        assert row["scope"] == "out" and EXPECTED_OUT[name] in row["scope_reason"]
        assert "scope gate off" in row["warnings"]


def test_age_warning_reaches_the_csv(tmp_path: Path, emb_model: Path) -> None:
    root = tmp_path / "adult"
    root.mkdir()
    chest = np.asarray(Image.open(sorted(samples_dir().glob("*.jpeg"))[0]).convert("L").resize((400, 320)))
    save(make_dataset(chest, PatientAge="045Y"), root / "adult.dcm")
    out = tmp_path / "scores.csv"
    assert main(["score", str(root), "--csv", str(out), "--model", str(emb_model), "-q"]) == 0
    row = _rows(out)["adult.dcm"]
    assert "patient age 45 years (adult)" in row["warnings"]


def test_model_without_detector_still_applies_header_and_image_rules(tmp_path: Path, study: Path,
                                                                     tiny_model: Path) -> None:
    out = tmp_path / "scores.csv"
    assert main(["score", str(study), "--csv", str(out), "--model", str(tiny_model), "-q"]) == 0
    rows = _rows(out)
    assert rows["mammo.dcm"]["scope"] == "out" and rows["astronaut.jpeg"]["scope"] == "out"
    assert rows["camera.png"]["scope"] == "in"  # no detector: nothing can tell a grey photo apart
