"""The SR read back through highdicom and pydicom says what the film's result said, and passes dciodvfy."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from tests.dicomout.films import dx_film
from xrayviewer import NOTICE
from xrayviewer.dicomout import DicomResultError, ScoredFilm
from xrayviewer.dicomout.check import encode, round_trip
from xrayviewer.dicomout.sc import source_header
from xrayviewer.dicomout.sr import build_sr


def _sr(film: ScoredFilm) -> hd.sr.ComprehensiveSR:
    made = build_sr(film, source_header(film.source), series_uid=hd.UID(), series_number=990, instance_number=1)
    return hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(io.BytesIO(round_trip(made))))


def _texts(sr: hd.sr.ComprehensiveSR) -> dict[str, list[str]]:
    """Meaning -> values of every TEXT and PNAME item anywhere in the tree."""
    found: dict[str, list[str]] = {}

    def walk(items):
        for item in items:
            if item.ValueType in ("TEXT", "PNAME"):
                value = item.TextValue if item.ValueType == "TEXT" else str(item.PersonName)
                found.setdefault(item.ConceptNameCodeSequence[0].CodeMeaning, []).append(value)
            walk(item.get("ContentSequence", []))

    walk(sr.ContentSequence)
    return found


@pytest.fixture
def film_path(tmp_path: Path) -> Path:
    return dx_film(tmp_path / "film.dcm")


def test_pneumonia_result_reads_back(film_path: Path) -> None:
    src = pydicom.dcmread(film_path)
    film = ScoredFilm(source=film_path, prediction="PNEUMONIA", probability=0.8312, threshold=0.4605,
                      model_id="xrayviewer-effl0-192-v2", model_version="2026-11-02", calibrated=True)
    sr = _sr(film)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert sr.StudyInstanceUID == src.StudyInstanceUID and sr.SeriesInstanceUID != src.SeriesInstanceUID
    assert (sr.PatientID, sr.AccessionNumber) == (src.PatientID, src.AccessionNumber)
    assert (sr.PreliminaryFlag, sr.VerificationFlag, sr.CompletionFlag) == ("PRELIMINARY", "UNVERIFIED", "COMPLETE")
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    [group] = sr.content.get_image_measurement_groups()
    [source] = group.source_images
    assert source.referenced_sop_instance_uid == src.SOPInstanceUID
    assert source.referenced_sop_class_uid == src.SOPClassUID
    values = {m.name.meaning: m.value for m in group.get_measurements()}
    assert values == {"Pneumonia probability (model output)": pytest.approx(0.8312),
                      "Operating threshold": pytest.approx(0.4605)}
    [finding] = group.get_qualitative_evaluations()
    assert (finding.name.value, finding.value.meaning) == ("233604007", "Present")
    texts = _texts(sr)
    assert texts["Algorithm Name"][0] == "xrayviewer-effl0-192-v2"
    assert texts["Algorithm Version"][0] == "2026-11-02"
    assert "probability calibrated" in texts["Algorithm Parameters"]
    assert texts["Comment"] == [NOTICE]
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99XRV"


def test_normal_and_borderline(film_path: Path) -> None:
    film = ScoredFilm(source=film_path, prediction="NORMAL", probability=0.41, threshold=0.4605, model_id="m1",
                      borderline=True)
    [group] = _sr(film).content.get_image_measurement_groups()
    evaluations = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    assert evaluations == {"Pneumonia": "Absent", "Probability near the operating threshold": "Present"}


def test_out_of_scope_carries_its_reason(film_path: Path) -> None:
    film = ScoredFilm(source=film_path, prediction="OUT_OF_SCOPE", threshold=0.4605, model_id="m1",
                      scope_reason="lateral view, not an AP/PA chest film")
    sr = _sr(film)
    [group] = sr.content.get_image_measurement_groups()
    assert [m.name.meaning for m in group.get_measurements()] == ["Operating threshold"]  # never scored
    [finding] = group.get_qualitative_evaluations()
    assert finding.value.meaning == "Not assessed: outside the model's scope"
    assert _texts(sr)["Reason outside the model's scope"] == ["lateral view, not an AP/PA chest film"]


def test_reader_decision_names_the_reader(film_path: Path) -> None:
    film = ScoredFilm(source=film_path, prediction="NORMAL", probability=0.7, threshold=0.46, model_id="m1",
                      observer="dr.smith", model_prediction="PNEUMONIA", note="old scarring, no consolidation")
    sr = _sr(film)
    texts = _texts(sr)
    assert texts["Person Observer Name"] == ["dr.smith^"]
    assert texts["Person Observer's Login Name"] == ["dr.smith"]
    assert texts["Reader note"] == ["old scarring, no consolidation"]
    [group] = sr.content.get_image_measurement_groups()
    evaluations = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    assert evaluations == {"Pneumonia": "Absent", "Model call at the operating threshold": "Present"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prediction": "MAYBE"}, "unknown prediction"),
    ({"probability": 1.5}, r"not within \[0, 1\]"),
    ({"probability": float("nan")}, r"not within \[0, 1\]"),
    ({"threshold": 0.0}, "threshold"),
    ({"prediction": "OUT_OF_SCOPE", "probability": None}, "reason"),
    ({"probability": None}, "needs its probability"),
    ({"model_id": " "}, "model id"),
    ({"cam": np.zeros((2, 3, 4))}, "2-D"),
])
def test_bad_input_is_refused_with_a_reason(film_path: Path, kwargs: dict, message: str) -> None:
    args = {"source": film_path, "prediction": "NORMAL", "probability": 0.2, "threshold": 0.46, "model_id": "m"}
    with pytest.raises(DicomResultError, match=message):
        ScoredFilm(**(args | kwargs))


def test_non_dicom_and_unreferenceable_films_are_refused(tmp_path: Path) -> None:
    jpeg = tmp_path / "a.jpeg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(DicomResultError, match="not a readable DICOM"):
        source_header(jpeg)
    no_uid = dx_film(tmp_path / "b.dcm")
    ds = pydicom.dcmread(no_uid)
    del ds.StudyInstanceUID
    ds.save_as(no_uid)
    with pytest.raises(DicomResultError, match="StudyInstanceUID"):
        source_header(no_uid)


def test_film_without_type2_attributes_still_gets_a_valid_sr(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "bare.dcm")
    ds = pydicom.dcmread(path)
    for keyword in ("StudyID", "StudyTime", "PatientBirthDate", "AccessionNumber"):
        delattr(ds, keyword)
    ds.save_as(path)
    sr = _sr(ScoredFilm(source=path, prediction="NORMAL", probability=0.1, threshold=0.46, model_id="m"))
    assert sr.StudyID == "" and sr.AccessionNumber == ""


@pytest.mark.parametrize("prediction", ["PNEUMONIA", "OUT_OF_SCOPE"])
def test_dciodvfy_finds_no_error(film_path: Path, tmp_path: Path, dciodvfy: str, prediction: str) -> None:
    film = ScoredFilm(source=film_path, prediction=prediction, probability=0.9, threshold=0.46, model_id="m",
                      scope_reason="adult film" if prediction == "OUT_OF_SCOPE" else "")
    sr = build_sr(film, source_header(film_path), series_uid=hd.UID(), series_number=990, instance_number=1)
    out = tmp_path / "sr.dcm"
    out.write_bytes(encode(sr))
    run = subprocess.run([dciodvfy, str(out)], capture_output=True, text=True)
    report = run.stdout + run.stderr
    assert "ComprehensiveSR" in report  # it recognised the IOD it checked
    assert [ln for ln in report.splitlines() if ln.startswith("Error")] == []
