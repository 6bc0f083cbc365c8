"""DICOM header rules: DICOMs written by the test with the header values real archives carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.films.testkit import make_dataset, save
from xrayviewer.films import load_film
from xrayviewer.scope import ScopeGate, check_header, patient_age_years


def _dicom(tmp_path: Path, pixels: np.ndarray, name: str = "film.dcm", **attrs: object) -> Path:
    ds = make_dataset(pixels, **attrs)
    for key in [k for k, v in attrs.items() if v is None]:
        delattr(ds, key)
    return save(ds, tmp_path / name)


@pytest.mark.parametrize(
    ("attrs", "fragment"),
    [
        ({"Modality": "MG"}, "modality MG (mammography)"),
        ({"Modality": "XA"}, "modality XA (X-ray angiography)"),
        ({"Modality": "CT"}, "modality CT (computed tomography)"),
        ({"Modality": "MR"}, "modality MR (magnetic resonance)"),
        ({"Modality": "US"}, "modality US (ultrasound)"),
        ({"Modality": "NM"}, "modality NM (nuclear medicine)"),
        ({"Modality": "PT"}, "modality PT (PET)"),
        ({"Modality": "ZZ"}, "modality ZZ (not CR or DX radiography)"),
        ({"BodyPartExamined": "HAND"}, "body part HAND"),
        ({"BodyPartExamined": "PELVIS"}, "body part PELVIS"),
        ({"ViewPosition": "LL"}, "view LL (lateral)"),
        ({"ViewPosition": "RLD"}, "view RLD (decubitus)"),
        ({"ViewPosition": "LAO"}, "view LAO (oblique)"),
        ({"BodyPartExamined": None, "StudyDescription": "XR WRIST 3 VIEWS"}, "names WRIST, not the chest"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.1.2", "Modality": None}, "image type Digital Mammography"),
    ],
)
def test_out_of_scope_headers_are_refused_without_decoding(tmp_path: Path, chest_gray: np.ndarray,
                                                           attrs: dict, fragment: str) -> None:
    sop = attrs.pop("SOPClassUID", None)
    extra = {"sop_class": sop} if sop else {}
    path = _dicom(tmp_path, chest_gray, **extra, **attrs)
    gate = ScopeGate()
    film = load_film(path, min_size=64, header_check=gate.header_check)
    assert not film.decoded and film.pixels.size == 0  # the pixels were never decoded
    scope = gate.check_film(film)
    assert scope.label == "out"
    assert fragment in scope.reason_text, scope.reasons


def test_multi_frame_cine_is_refused(tmp_path: Path, chest_gray: np.ndarray) -> None:
    frames = np.stack([chest_gray[:200, :200]] * 3)
    path = _dicom(tmp_path, frames, frames=3, Modality="DX")
    gate = ScopeGate()
    film = load_film(path, header_check=gate.header_check)
    assert gate.check_film(film).reasons == ("multi-frame image (3 frames: a cine or series, not a single film)",)


@pytest.mark.parametrize(
    "attrs",
    [
        {},  # DX, CHEST, PA
        {"Modality": "CR", "BodyPartExamined": "THORAX", "ViewPosition": "AP"},
        {"Modality": None, "BodyPartExamined": None, "ViewPosition": None},  # empty headers say nothing
        {"BodyPartExamined": "CHEST_PA", "ViewPosition": "AP SUPINE"},
        {"BodyPartExamined": None, "StudyDescription": "XR CHEST AND ABDOMEN"},
    ],
)
def test_chest_headers_are_in_scope_and_decoded(tmp_path: Path, chest_gray: np.ndarray, attrs: dict) -> None:
    path = _dicom(tmp_path, chest_gray, PatientAge="003Y", **attrs)
    gate = ScopeGate()
    film = load_film(path, min_size=64, header_check=gate.header_check)
    assert film.decoded and film.pixels.size > 0
    scope = gate.check_film(film)
    assert scope.in_scope, scope.reasons
    assert scope.warnings == ()


def test_refused_header_wins_over_undecodable_pixels(tmp_path: Path, chest_gray: np.ndarray) -> None:
    """A mammogram whose pixel data we could not decode is out of scope, not an error."""
    ds = make_dataset(chest_gray, Modality="MG")
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]  # truncated pixel data
    path = save(ds, tmp_path / "mg.dcm")
    film = load_film(path, header_check=ScopeGate().header_check)
    assert not film.decoded and "mammography" in ScopeGate().check_film(film).reason_text


def test_gate_off_still_decodes_and_reports(tmp_path: Path, chest_gray: np.ndarray) -> None:
    path = _dicom(tmp_path, chest_gray, Modality="MG")
    gate = ScopeGate(enforce=False)
    film = load_film(path, header_check=gate.header_check)
    assert film.decoded
    scope = gate.check_film(film)
    assert scope.label == "out" and not gate.withholds(scope)
    assert "scope gate off" in gate.final(scope).warning_text


@pytest.mark.parametrize(
    ("attrs", "warning"),
    [
        ({"PatientAge": "034Y"}, "patient age 34 years (adult) is outside the 1-5 years"),
        ({"PatientAge": "008M"}, "patient age 8 months is outside"),
        ({"PatientAge": "012D"}, "patient age 12 days is outside"),
        ({"PatientAge": "007Y"}, "patient age 7 years is outside"),
        ({"PatientBirthDate": "19800101", "StudyDate": "20240131"}, "patient age 44 years (adult)"),
    ],
)
def test_age_outside_training_range_is_a_warning_not_a_refusal(tmp_path: Path, chest_gray: np.ndarray,
                                                               attrs: dict, warning: str) -> None:
    path = _dicom(tmp_path, chest_gray, **attrs)
    gate = ScopeGate()
    film = load_film(path, min_size=64, header_check=gate.header_check)
    scope = gate.check_film(film)
    assert scope.in_scope and film.decoded
    assert warning in scope.warning_text, scope.warnings


def test_patient_age_sources() -> None:
    assert patient_age_years({"PatientAge": "003Y"}) == 3
    assert patient_age_years({"PatientAge": "018M"}) == pytest.approx(1.5)
    born = {"PatientBirthDate": "2020-01-01"}
    assert patient_age_years({**born, "StudyDate": "2024-01-31"}) == pytest.approx(4.08, abs=0.01)
    assert patient_age_years({**born, "AcquisitionDate": "2021-06-01"}) == pytest.approx(1.42, abs=0.01)
    assert patient_age_years({"PatientAge": "garbage"}) is None
    assert patient_age_years({"PatientBirthDate": "2024-01-01", "StudyDate": "2020-01-01"}) is None
    assert check_header({"PatientAge": "004Y"}).warnings == ()


def test_thoracic_spine_is_not_the_chest() -> None:
    assert check_header({"BodyPartExamined": "TSPINE"}).reasons == ("body part TSPINE",)
    scope = check_header({"StudyDescription": "XR THORACIC SPINE 2V"})
    assert scope.reasons and "SPINE" in scope.reason_text


def test_unrecognised_view_is_a_warning() -> None:
    scope = check_header({"ViewPosition": "XYZ"})
    assert scope.in_scope and "view XYZ not recognised" in scope.warning_text
