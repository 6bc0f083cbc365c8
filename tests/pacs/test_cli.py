"""`xrayviewer pacs search` and `xrayviewer score --pacs ... --store-results` against a real Orthanc."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.pacs.orthanc import FaultProxy, Orthanc, Rule, free_port
from tests.pacs.studies import load_study
from xrayviewer.cli import main


@pytest.fixture
def env(pacs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in pacs_env.items():
        monkeypatch.setenv(key, value)
    return pacs_env


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def test_search_lists_studies_without_patient_data(orthanc: Orthanc, env: dict[str, str],
                                                   capsys: pytest.CaptureFixture) -> None:
    study = load_study(orthanc, modality="CR", date="20220505", films=1, description="CHEST PA")
    assert main(["pacs", "search", orthanc.url, "--modality", "CR,DX", "--since", "20220501"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "date\tmodalities\tinstances\tstudy_uid\tdescription"
    assert f"20220505\tCR\t1\t{study.uid}\tCHEST PA" in lines
    assert "Doe" not in out and "P-0001" not in out  # patient data only when asked
    assert env["XRAYVIEWER_PACS_PASSWORD"] not in out + err
    assert main(["pacs", "search", orthanc.url, "--study", study.uid, "--show-patient"]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("\tP-0001\tDoe^Jane")


def test_search_faults_are_one_line(env: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    assert main(["pacs", "search", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"xrayviewer pacs: error: cannot reach the PACS at {url} (connection refused) while searching "
                   "for studies; is it running and is the URL right?"]
    assert main(["pacs", "search", "https://user:pw@pacs.example.org/dw"]) == 2
    assert "credentials in the URL are refused" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["pacs", "search", "http://127.0.0.1:9/dw", "--since", "2024-01-01"])
    assert usage.value.code == 2 and "not a date as YYYYMMDD" in capsys.readouterr().err


def test_score_study_and_store_results(orthanc: Orthanc, proxy: FaultProxy, env: dict[str, str], tiny_model: Path,
                                       tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    study = load_study(orthanc, films=3, non_image=True)
    out_csv = tmp_path / "scores.csv"
    with proxy.rule(Rule(f"/instances/{study.sop(2)}", 500, method="GET")):
        code = main(["score", "--pacs", proxy.url, "--study", study.uid, "--csv", str(out_csv), "--model",
                     str(tiny_model), "--store-results", "--dicom-out", str(tmp_path / "dicom")])
    err = capsys.readouterr().err
    assert code == 3, err  # two problems (a 500 and a non-image), the rest scored and stored
    rows = _rows(out_csv)
    ok = {k: r for k, r in rows.items() if r["status"] == "ok"}
    bad = {k: r for k, r in rows.items() if r["status"] == "error"}
    assert sorted(Path(k).stem for k in ok) == sorted([study.sop(0), study.sop(1)])
    assert all(k.startswith(f"{study.uid}/") for k in rows)  # paths: STUDY/SERIES/SOP.dcm in the cache
    assert sorted(r["error"].split(" while")[0] for r in bad.values()) == [
        "not an image (Basic Text SR Storage), not scored", "the PACS failed with HTTP 500"]
    assert "stored 4 result objects in 1 study on the PACS" in err
    assert len(orthanc.instances_of(study.uid)) == 3 + 1 + 4  # 3 films, the text SR, 2 SRs + 2 captures
    assert len(list((tmp_path / "dicom").rglob("*.dcm"))) == 4
    # A second run scores the films again but not our own heat maps, and the SRs are not films either.
    capsys.readouterr()
    assert main(["score", "--pacs", orthanc.url, "--study", study.uid, "--csv", str(out_csv), "--model",
                 str(tiny_model)]) == 3
    err = capsys.readouterr().err
    assert "skipped 2 heat-map images xrayviewer stored earlier" in err
    rows = _rows(out_csv)
    assert len([r for r in rows.values() if r["status"] == "ok"]) == 3
    assert len([r for r in rows.values() if "not an image (Comprehensive SR Storage)" in r["error"]]) == 2


def test_failed_store_says_so_and_stores_nothing(orthanc: Orthanc, proxy: FaultProxy, env: dict[str, str],
                                                 tiny_model: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    study = load_study(orthanc, films=2)
    with proxy.rule(Rule("/studies", 503, method="POST")):
        code = main(["score", "--pacs", proxy.url, "--study", study.uid, "--csv", str(tmp_path / "s.csv"),
                     "--model", str(tiny_model), "--store-results"])
    err = capsys.readouterr().err
    assert code == 3
    assert "xrayviewer score: error: the PACS failed with HTTP 503 while storing 4 result objects" in err
    assert len(orthanc.instances_of(study.uid)) == 2
    assert len([r for r in _rows(tmp_path / "s.csv").values() if r["status"] == "ok"]) == 2  # scores still written


def test_score_with_pacs_down_is_one_line(env: dict[str, str], tiny_model: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    assert main(["score", "--pacs", url, "--since", "20240101", "--csv", str(tmp_path / "s.csv"), "--model",
                 str(tiny_model)]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert lines == [f"xrayviewer score: error: cannot reach the PACS at {url} (connection refused) while "
                     "searching for studies; is it running and is the URL right?"]
    assert not (tmp_path / "s.csv").exists()
