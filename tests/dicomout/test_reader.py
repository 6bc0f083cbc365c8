"""`xrayviewer review export --dicom-out DIR`: each reader decision on a DICOM film as an SR naming the reader."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from tests.dicomout.films import dx_film
from xrayviewer.cli import main
from xrayviewer.paths import samples_dir
from xrayviewer.review import AgreementLog
from xrayviewer.review.log import Decision


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reader_decisions_become_srs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    study = tmp_path / "study"
    a = dx_film(study / "a.dcm")
    b = dx_film(study / "sub" / "b.dcm", index=1)
    jpeg = study / "c.jpeg"
    shutil.copy(sorted(samples_dir().glob("*.jpeg"))[0], jpeg)
    gone = dx_film(study / "gone.dcm", index=2)
    log_path = tmp_path / "log.sqlite3"
    with AgreementLog(log_path) as log:
        for film, reviewer, decision, call, p in ((a, "dr.a", "NORMAL", "PNEUMONIA", 0.71),
                                                  (b, "dr.b", "PNEUMONIA", "PNEUMONIA", 0.93),
                                                  (jpeg, "dr.a", "NORMAL", "NORMAL", 0.1),
                                                  (gone, "dr.a", "NORMAL", "NORMAL", 0.2)):
            log.record(Decision(sha256=_sha(film), path=str(film), study=str(study), model_id="m-v2", probability=p,
                                model_call=call, threshold=0.46, reviewer=reviewer, decision=decision,
                                note="old scarring" if film == a else ""))
    gone.unlink()
    out = tmp_path / "out"
    assert main(["review", "export", "--log", str(log_path), "--dicom-out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "wrote 2 reader SRs" in err and "1 decisions are on films that are not DICOM" in err
    assert f"warning: no SR for {gone}: the film is no longer there" in err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.dcm"))
    assert written == ["study/a.dcm.dr.a.reader-sr.dcm", "study/sub/b.dcm.dr.b.reader-sr.dcm"]
    sr = hd.sr.srread(out / written[0])
    [group] = sr.content.get_image_measurement_groups()
    assert group.source_images[0].referenced_sop_instance_uid == pydicom.dcmread(a).SOPInstanceUID
    evaluations = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    assert evaluations == {"Pneumonia": "Absent", "Model call at the operating threshold": "Present"}
    assert int(sr.SeriesNumber) == 992 and sr.SeriesDescription == "Reader decisions (xrayviewer)"
    dump = str(pydicom.dcmread(out / written[0]))
    assert "dr.a" in dump and "old scarring" in dump


def test_export_needs_an_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["review", "export", "--log", str(tmp_path / "log.sqlite3")]) == 2
    assert "give --csv OUT.csv, --dicom-out DIR or both" in capsys.readouterr().err
