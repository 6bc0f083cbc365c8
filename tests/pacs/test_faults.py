"""Every PACS fault gives one clear message; one bad instance never stops the rest of the study."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.pacs.orthanc import FaultProxy, Orthanc, Rule, free_port
from tests.pacs.studies import load_study
from xrayviewer.dicomout import ResultBuilder, ScoredFilm
from xrayviewer.pacs import InstanceRef, PacsClient, PacsError, StudyCache, load_config


def _client(url: str, env: dict[str, str]) -> PacsClient:
    return PacsClient(load_config(url, env=env))


def _error(client: PacsClient, call) -> PacsError:  # type: ignore[no-untyped-def]
    with pytest.raises(PacsError) as caught:
        call(client)
    return caught.value


def test_pacs_down(pacs_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"  # nothing listens there
    err = _error(_client(url, pacs_env), lambda c: c.search_studies())
    assert err.kind == "down"
    assert str(err) == (f"cannot reach the PACS at {url} (connection refused) while searching for studies; "
                        "is it running and is the URL right?")


def test_wrong_password_is_a_real_401(orthanc: Orthanc, pacs_env: dict[str, str], caplog) -> None:
    env = pacs_env | {"XRAYVIEWER_PACS_PASSWORD": "wrong-secret-123"}
    caplog.set_level(logging.DEBUG)
    err = _error(_client(orthanc.url, env), lambda c: c.search_studies())
    assert err.kind == "auth"
    assert str(err).startswith(f"the PACS at {orthanc.url} refused the login (401) while searching for studies")
    assert "username and password" in str(err) and "(credentials from environment)" in str(err)
    assert "wrong-secret-123" not in str(err) + caplog.text  # never in a message or a log line


def test_no_credentials_asks_for_a_login(orthanc: Orthanc, pacs_env: dict[str, str]) -> None:
    err = _error(_client(orthanc.url, {}), lambda c: c.search_studies())
    assert err.kind == "auth" and "asks for a login (401)" in str(err)


def test_bearer_token_never_logged(proxy: FaultProxy, pacs_env: dict[str, str], caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with proxy.rule(Rule("/studies", 401)):
        err = _error(_client(proxy.url, {"XRAYVIEWER_PACS_TOKEN": "tok-abc-987"}), lambda c: c.search_studies())
    assert err.kind == "auth" and "check the token" in str(err)
    assert "tok-abc-987" not in caplog.text


@pytest.mark.parametrize(("status", "kind", "text"), [
    (403, "forbidden", "the PACS denied this account access (403) while searching for studies"),
    (500, "server", "the PACS failed with HTTP 500 while searching for studies"),
    (503, "server", "the PACS failed with HTTP 503 while searching for studies"),
    (400, "bad_reply", "the PACS answered HTTP 400 while searching for studies"),
])
def test_http_errors_on_search(proxy: FaultProxy, pacs_env: dict[str, str], status: int, kind: str,
                               text: str) -> None:
    with proxy.rule(Rule("/studies", status)):
        err = _error(_client(proxy.url, pacs_env), lambda c: c.search_studies())
    assert err.kind == kind and str(err).startswith(text)
    assert len([r for r in proxy.requests if "/studies" in r[1]]) == 1  # no retries


def test_garbage_reply(proxy: FaultProxy, pacs_env: dict[str, str]) -> None:
    with proxy.rule(Rule("/studies", 200, b"<html>login page</html>", "application/dicom+json")):
        err = _error(_client(proxy.url, pacs_env), lambda c: c.search_studies())
    assert err.kind == "bad_reply" and "could not be read while searching for studies" in str(err)


def test_slow_pacs_times_out(proxy: FaultProxy, pacs_env: dict[str, str]) -> None:
    with proxy.rule(Rule("/studies", 0)):
        err = _error(_client(proxy.url, pacs_env | {"XRAYVIEWER_PACS_TIMEOUT": "0.5"}), lambda c: c.search_studies())
    assert err.kind == "timeout"
    assert str(err) == f"the PACS at {proxy.url} did not answer within 0.5 s while searching for studies"


def test_unknown_instance_is_a_real_404(orthanc: Orthanc, pacs_env: dict[str, str]) -> None:
    study = load_study(orthanc, films=1)
    ref = InstanceRef(study.uid, str(study.films[0].SeriesInstanceUID), "1.2.3.4.5.6.7")
    err = _error(_client(orthanc.url, pacs_env), lambda c: c.retrieve(ref))
    assert err.kind == "not_found" and str(err).startswith("instance 1.2.3.4.5.6.7 was not found on the PACS (404)")


def test_unknown_study(orthanc: Orthanc, pacs_env: dict[str, str], tmp_path: Path) -> None:
    err = _error(_client(orthanc.url, pacs_env), lambda c: StudyCache(tmp_path).fetch_study(c, "1.2.3.999"))
    assert err.kind == "not_found" and "study 1.2.3.999 has no instances on the PACS" in str(err)


def test_bad_instances_are_reported_and_the_rest_fetched(orthanc: Orthanc, proxy: FaultProxy,
                                                         pacs_env: dict[str, str], tmp_path: Path) -> None:
    study = load_study(orthanc, films=5, non_image=True)
    rules = [Rule(f"/instances/{study.sop(0)}", 404), Rule(f"/instances/{study.sop(1)}", 500),
             Rule(f"/instances/{study.sop(2)}", 0), Rule(f"/instances/{study.sop(3)}", 200, b"not dicom",
                                                           'multipart/related; type="application/dicom"; boundary=x')]
    env = pacs_env | {"XRAYVIEWER_PACS_TIMEOUT": "0.5"}
    with proxy.rule(*rules), _client(proxy.url, env) as client:
        result = StudyCache(tmp_path / "cache").fetch_study(client, study.uid)
    assert [p.stem for p in result.films] == [study.sop(4)]
    problems = {name.rsplit("/", 1)[-1].removesuffix(".dcm"): message for name, message in result.problems}
    assert problems[study.sop(0)].startswith(f"instance {study.sop(0)} was not found on the PACS (404)")
    assert problems[study.sop(1)].startswith("the PACS failed with HTTP 500 while retrieving instance")
    assert problems[study.sop(2)].startswith(f"the PACS at {proxy.url} did not answer within 0.5 s")
    assert "reply that could not be read" in problems[study.sop(3)]
    assert problems[str(study.others[0].SOPInstanceUID)] == "not an image (Basic Text SR Storage), not scored"
    assert len(problems) == 5
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()) == [f"{study.sop(4)}.dcm"]


def test_access_refused_mid_study_stops_with_one_message(orthanc: Orthanc, proxy: FaultProxy,
                                                          pacs_env: dict[str, str], tmp_path: Path) -> None:
    """403/401/down on an instance means the PACS refuses us, not that one film is bad: stop, say so once."""
    study = load_study(orthanc, films=2)
    with proxy.rule(Rule(f"/instances/{study.sop(0)}", 403)), _client(proxy.url, pacs_env) as client:
        err = _error(client, lambda c: StudyCache(tmp_path).fetch_study(c, study.uid))
    assert err.kind == "forbidden" and "while retrieving instance" in str(err)
    assert [p for m, p in proxy.requests if study.sop(1) in p] == []  # did not go on hammering the PACS


def test_failed_store_stores_nothing(orthanc: Orthanc, proxy: FaultProxy, pacs_env: dict[str, str],
                                     tmp_path: Path) -> None:
    study = load_study(orthanc, films=1)
    with _client(proxy.url, pacs_env) as client:
        [film] = StudyCache(tmp_path).fetch_study(client, study.uid).films
        objs = ResultBuilder().build(ScoredFilm(source=film, prediction="NORMAL", probability=0.1, threshold=0.46,
                                                model_id="m"))
        with proxy.rule(Rule("/studies", 500, method="POST")):
            err = _error(client, lambda c: c.store(objs.datasets, study.uid))
    assert err.kind == "server" and "while storing 2 result objects" in str(err)
    assert len(orthanc.instances_of(study.uid)) == 1  # only the film: nothing of the result landed
