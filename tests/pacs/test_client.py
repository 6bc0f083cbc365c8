"""Search, retrieve and store against a real Orthanc over DICOMweb."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.pacs.orthanc import FaultProxy, Orthanc
from tests.pacs.studies import load_study
from xrayviewer.dicomout import ResultBuilder, ScoredFilm
from xrayviewer.pacs import PacsClient, PacsError, StudyCache, load_config


def _client(url: str, env: dict[str, str], **kwargs) -> PacsClient:
    return PacsClient(load_config(url, env=env, **kwargs))


def test_search_filters_by_modality_and_date(orthanc: Orthanc, pacs_env: dict[str, str]) -> None:
    dx = load_study(orthanc, modality="DX", date="20230110", films=1)
    cr = load_study(orthanc, modality="CR", date="20230320", films=1, description="THORAX")
    with _client(orthanc.url, pacs_env) as client:
        found = {s.study_uid: s for s in client.search_studies()}
        assert {dx.uid, cr.uid} <= found.keys()
        assert found[cr.uid].modalities == ("CR",) and found[cr.uid].description == "THORAX"
        assert found[cr.uid].date == "20230320" and found[cr.uid].instances == 1
        assert found[cr.uid].patient_id == "P-0001"
        only_cr = {s.study_uid for s in client.search_studies(modalities=["CR"])}
        assert cr.uid in only_cr and dx.uid not in only_cr
        both = {s.study_uid for s in client.search_studies(modalities=["CR", "DX"])}
        assert {dx.uid, cr.uid} <= both
        later = {s.study_uid for s in client.search_studies(since="20230301")}
        assert cr.uid in later and dx.uid not in later
        [one] = client.search_studies(study_uid=dx.uid)
        assert one.study_uid == dx.uid


def test_a_capped_search_says_there_may_be_more(orthanc: Orthanc, pacs_env: dict[str, str], caplog) -> None:
    load_study(orthanc, films=1)
    load_study(orthanc, films=1)
    with _client(orthanc.url, pacs_env) as client, caplog.at_level(logging.WARNING):
        assert len(client.search_studies(limit=1)) == 1
    assert "returned the maximum of 1 studies for one query; there may be more" in caplog.text


def test_fetch_study_into_cache_skips_non_images_and_reuses_cache(orthanc: Orthanc, proxy: FaultProxy,
                                                                   pacs_env: dict[str, str], tmp_path: Path) -> None:
    study = load_study(orthanc, films=2, non_image=True)
    cache = StudyCache(tmp_path / "cache")
    with _client(proxy.url, pacs_env) as client:
        result = cache.fetch_study(client, study.uid)
    assert sorted(p.stem for p in result.films) == sorted(str(f.SOPInstanceUID) for f in study.films)
    [(name, message)] = result.problems
    assert name.endswith(f"{study.others[0].SOPInstanceUID}.dcm")
    assert message == "not an image (Basic Text SR Storage), not scored"
    for path, original in zip(sorted(result.films), sorted(study.films, key=lambda d: str(d.SOPInstanceUID)),
                              strict=True):
        back = pydicom.dcmread(path)
        assert back.SOPInstanceUID == original.SOPInstanceUID
        assert (back.pixel_array == original.pixel_array).all()
    assert oct(cache.root.stat().st_mode & 0o777) == "0o700"  # patient data: private to the user
    retrieved = [p for m, p in proxy.requests if m == "GET" and "/instances/" in p]
    assert len(retrieved) == 2  # the SR was never downloaded
    proxy.requests.clear()
    with _client(proxy.url, pacs_env) as client:
        again = cache.fetch_study(client, study.uid)
    assert sorted(again.films) == sorted(result.films)
    assert [p for m, p in proxy.requests if "/instances/" in p] == []  # served from the cache


def test_store_results_and_skip_them_on_the_next_fetch(orthanc: Orthanc, pacs_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    study = load_study(orthanc, films=1)
    cache = StudyCache(tmp_path / "cache")
    with _client(orthanc.url, pacs_env) as client:
        [film] = cache.fetch_study(client, study.uid).films
        objs = ResultBuilder().build(ScoredFilm(source=film, prediction="PNEUMONIA", probability=0.91, threshold=0.46,
                                                model_id="m-v2"))
        assert client.store(objs.datasets, study.uid) == 2
        stored = {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances_of(study.uid)}
        assert {str(d.SOPInstanceUID) for d in objs.datasets} <= stored
        again = StudyCache(tmp_path / "cache2").fetch_study(client, study.uid)
    assert again.skipped_own == 1  # our own heat map is not a film to score
    assert [m for _, m in again.problems] == ["not an image (Comprehensive SR Storage), not scored"]
    assert len(again.films) == 1


def test_tls_is_verified_and_a_ca_bundle_makes_it_trusted(orthanc: Orthanc, tmp_path: Path,
                                                           pacs_env: dict[str, str]) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    study = load_study(orthanc, films=1)
    tls = FaultProxy(orthanc.port, tls=(cert, key))
    try:
        with pytest.raises(PacsError) as caught, _client(tls.url, pacs_env) as client:
            client.search_studies(study_uid=study.uid)
        assert caught.value.kind == "tls" and "ca_bundle" in str(caught.value)
        with _client(tls.url, pacs_env | {"XRAYVIEWER_PACS_CA_BUNDLE": str(cert)}) as client:
            assert [s.study_uid for s in client.search_studies(study_uid=study.uid)] == [study.uid]
    finally:
        tls.close()


def test_full_size_capture_is_stored_in_chunks(orthanc: Orthanc, pacs_env: dict[str, str], tmp_path: Path) -> None:
    """A real film's capture (1024 px RGB, ~3 MB) goes up with chunked transfer encoding; Orthanc takes it."""
    study = load_study(orthanc, films=1, width=1400)
    with _client(orthanc.url, pacs_env) as client:
        [film] = StudyCache(tmp_path / "cache").fetch_study(client, study.uid).films
        objs = ResultBuilder().build(ScoredFilm(source=film, prediction="NORMAL", probability=0.1, threshold=0.46,
                                                model_id="m"))
        assert len(objs.encoded[1]) > 10**6  # over dicomweb-client's chunk size
        assert client.store(objs.datasets, study.uid) == 2
    assert len(orthanc.instances_of(study.uid)) == 3
