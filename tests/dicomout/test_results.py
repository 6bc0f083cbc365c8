"""Many films: series per study, every object checked, a film's files written together."""

from __future__ import annotations

from pathlib import Path

import pydicom

from tests.dicomout.films import dx_film, new_uid
from xrayviewer.dicomout import ResultBuilder, ScoredFilm, write_objects


def _film(path: Path, **kwargs) -> ScoredFilm:
    args = {"prediction": "NORMAL", "probability": 0.12, "threshold": 0.46, "model_id": "m"} | kwargs
    return ScoredFilm(source=path, **args)


def test_one_sr_series_and_one_capture_series_per_study(tmp_path: Path) -> None:
    study = new_uid()
    a, b = dx_film(tmp_path / "a.dcm", study_uid=study), dx_film(tmp_path / "b.dcm", index=1, study_uid=study)
    other = dx_film(tmp_path / "c.dcm", index=2)
    builder = ResultBuilder()
    objs = [builder.build(_film(p)) for p in (a, b, other)]
    sr = [o.datasets[0] for o in objs]
    sc = [o.datasets[1] for o in objs]
    assert sr[0].SeriesInstanceUID == sr[1].SeriesInstanceUID != sc[0].SeriesInstanceUID == sc[1].SeriesInstanceUID
    assert [int(d.InstanceNumber) for d in sr[:2]] == [1, 2]
    assert sr[2].SeriesInstanceUID not in {sr[0].SeriesInstanceUID, sc[0].SeriesInstanceUID}
    assert int(sr[2].InstanceNumber) == 1 and objs[2].study_uid == pydicom.dcmread(other).StudyInstanceUID
    assert {int(d.SeriesNumber) for d in sr} == {990} and {int(d.SeriesNumber) for d in sc} == {991}


def test_reader_decisions_go_to_their_own_series_without_capture(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "a.dcm")
    obj = ResultBuilder().build(_film(path, observer="reader1", model_prediction="NORMAL"))
    [sr] = obj.datasets
    assert int(sr.SeriesNumber) == 992 and sr.Modality == "SR"


def test_written_files_are_the_checked_bytes(tmp_path: Path) -> None:
    path = dx_film(tmp_path / "in" / "a.dcm")
    obj = ResultBuilder().build(_film(path))
    written = write_objects(obj, tmp_path / "out" / "sub" / "a.dcm")
    assert [p.name for p in written] == ["a.dcm.sr.dcm", "a.dcm.sc.dcm"]
    assert [p.read_bytes() for p in written] == obj.encoded
    assert sorted(p.name for p in (tmp_path / "out" / "sub").iterdir()) == ["a.dcm.sc.dcm", "a.dcm.sr.dcm"]
    assert pydicom.dcmread(written[1]).pixel_array.ndim == 3
