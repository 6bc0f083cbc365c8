"""The Secondary Capture shows the film, its heat map and a burned-in caption, in the film's study."""

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
from xrayviewer.dicomout.sc import CAPTION, build_secondary_capture, caption_lines, source_header


def _sc(film: ScoredFilm, **kwargs) -> pydicom.Dataset:
    made = build_secondary_capture(film, source_header(film.source), series_uid=hd.UID(), series_number=991,
                                   instance_number=1, **kwargs)
    return pydicom.dcmread(io.BytesIO(round_trip(made)))


def _film(path: Path, cam: np.ndarray | None, **kwargs) -> ScoredFilm:
    args = {"prediction": "PNEUMONIA", "probability": 0.93, "threshold": 0.46, "model_id": "m-v2"} | kwargs
    return ScoredFilm(source=path, cam=cam, **args)


def _coloured(rgb: np.ndarray) -> float:
    """Share of pixels that are not grey."""
    spread = rgb.max(axis=2).astype(int) - rgb.min(axis=2).astype(int)
    return float((spread > 12).mean())


def test_capture_in_the_film_study_with_caption_and_heat_map(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "f.dcm", width=320)
    src = pydicom.dcmread(path)
    cam = np.full((6, 6), -8.0, np.float32)
    cam[1:3, 1:3] = 8.0  # strong evidence in the upper left only
    sc = _sc(_film(path, cam))
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert sc.StudyInstanceUID == src.StudyInstanceUID and sc.PatientID == src.PatientID
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert (sc.BurnedInAnnotation, sc.ImageComments, sc.PhotometricInterpretation) == ("YES", NOTICE, "RGB")
    assert sc.Columns == 320  # a small film is never blown up
    rgb = sc.pixel_array
    film_rows = src.Rows
    assert rgb.shape[0] > film_rows  # the caption band lies below the film, not over it
    film_part, band = rgb[:film_rows], rgb[film_rows:]
    upper_left = film_part[: film_rows // 2, : sc.Columns // 2]
    lower_right = film_part[film_rows // 2 :, sc.Columns // 2 :]
    assert _coloured(upper_left) > 0.2 and _coloured(lower_right) == 0.0
    yellow = (band[..., 0] > 200) & (band[..., 1] > 170) & (band[..., 2] < 90)
    assert yellow.sum() > 200  # the warning line is drawn in yellow


def test_without_heat_map_the_film_stays_grey(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "f.dcm")
    sc = _sc(_film(path, None))
    assert _coloured(sc.pixel_array[: pydicom.dcmread(path).Rows]) == 0.0


def test_caption_says_what_the_model_said() -> None:
    film = _film(Path("x.dcm"), None, borderline=True)
    top, detail = caption_lines(film)
    assert top == CAPTION == "AI triage - not for diagnosis"
    assert "PNEUMONIA" in detail and "0.93" in detail and "0.46" in detail and "borderline" in detail
    oos = ScoredFilm(source=Path("x.dcm"), prediction="OUT_OF_SCOPE", threshold=0.46, model_id="m",
                     scope_reason="adult")
    assert "Out of scope, not assessed: adult" in caption_lines(oos)[1]


def test_large_film_is_captured_at_most_1024_px(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "big.dcm", width=1500)
    sc = _sc(_film(path, None), long_edge=1024)
    assert max(sc.Columns, pydicom.dcmread(path).Rows * 1024 // 1500) <= 1024 and sc.Columns == 1024


def test_orientation_copied_when_known_else_left_empty(tmp_path: Path) -> None:
    known = dx_film(tmp_path / "a.dcm", PatientOrientation=["L", "F"])
    assert list(_sc(_film(known, None)).PatientOrientation) == ["L", "F"]
    unknown = dx_film(tmp_path / "b.dcm")
    assert _sc(_film(unknown, None)).PatientOrientation in ("", None)


def test_undecodable_film_is_refused(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "f.dcm")
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:100]
    ds.save_as(path)
    with pytest.raises(DicomResultError, match="cannot read the film"):
        _sc(_film(path, None))


def test_dciodvfy_finds_no_error(tmp_path: Path, dciodvfy: str) -> None:
    path = dx_film(tmp_path / "f.dcm")
    sc = build_secondary_capture(_film(path, np.zeros((6, 6), np.float32)), source_header(path),
                                 series_uid=hd.UID(), series_number=991, instance_number=1)
    out = tmp_path / "sc.dcm"
    out.write_bytes(encode(sc))
    run = subprocess.run([dciodvfy, str(out)], capture_output=True, text=True)
    report = run.stdout + run.stderr
    assert "SCImage" in report
    assert [ln for ln in report.splitlines() if ln.startswith("Error")] == []
