"""`xrayviewer score DIR --csv OUT.csv --dicom-out DIR2`: an SR and a capture per DICOM film, mirrored."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from tests.dicomout.films import dx_film, new_uid
from xrayviewer.cli import main
from xrayviewer.paths import samples_dir


def test_dicom_out_mirrors_the_folder(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture) -> None:
    study = new_uid()
    films = tmp_path / "films"
    a = dx_film(films / "a.dcm", study_uid=study)
    b = dx_film(films / "sub" / "b.dcm", index=1, study_uid=study)
    shutil.copy(sorted(samples_dir().glob("*.jpeg"))[0], films / "c.jpeg")
    out = tmp_path / "dicom"
    code = main(["score", str(films), "--csv", str(tmp_path / "s.csv"), "--model", str(tiny_model),
                 "--dicom-out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 DICOM results in" in err and "1 films are not DICOM" in err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.dcm"))
    assert written == ["a.dcm.sc.dcm", "a.dcm.sr.dcm", "sub/b.dcm.sc.dcm", "sub/b.dcm.sr.dcm"]
    rows = {r["path"]: r for r in csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8"))}
    for film, rel in ((a, "a.dcm"), (b, "sub/b.dcm")):
        sr = hd.sr.srread(out / f"{rel}.sr.dcm")
        [group] = sr.content.get_image_measurement_groups()
        assert group.source_images[0].referenced_sop_instance_uid == pydicom.dcmread(film).SOPInstanceUID
        values = {m.name.meaning: m.value for m in group.get_measurements()}
        expected = float(rows[rel]["pneumonia_probability"])
        assert values["Pneumonia probability (model output)"] == pytest.approx(expected, abs=1e-6)
        [finding] = group.get_qualitative_evaluations()[:1]
        assert finding.value.meaning == {"PNEUMONIA": "Present", "NORMAL": "Absent"}[rows[rel]["prediction"]]
        sc = pydicom.dcmread(out / f"{rel}.sc.dcm")
        assert sc.StudyInstanceUID == study and sc.BurnedInAnnotation == "YES"
    sr_series = {pydicom.dcmread(p).SeriesInstanceUID for p in out.rglob("*.sr.dcm")}
    assert len(sr_series) == 1  # one results series for the study


def test_pacs_options_need_pacs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["score", str(tmp_path), "--csv", str(tmp_path / "s.csv"), "--store-results"]) == 2
    assert "--store-results needs --pacs" in capsys.readouterr().err
    assert main(["score", "--csv", str(tmp_path / "s.csv")]) == 2
    assert "give a folder of films (DIR) or a PACS" in capsys.readouterr().err
    assert main(["score", "--csv", str(tmp_path / "s.csv"), "--pacs", "http://127.0.0.1:9/dw"]) == 2
    assert "exactly one of --study UID or --since YYYYMMDD" in capsys.readouterr().err
