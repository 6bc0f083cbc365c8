"""Server and credentials come from the environment or a config file, and only go where they belong."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from xrayviewer.pacs import PacsError, load_config
from xrayviewer.pacs.client import PacsClient


def _ini(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_file_section_matched_by_url_or_name(tmp_path: Path) -> None:
    ini = _ini(tmp_path / "pacs.ini", "[pacs]\nurl = https://pacs.example.org/dicom-web/\nusername = r\n"
               "password = p1\ntimeout = 12\n\n[pacs research]\nurl = https://research.example.org/dw\n"
               "token = t2\n")
    default = load_config(None, env={}, path=ini)
    assert (default.url, default.username, default.password, default.timeout) == (
        "https://pacs.example.org/dicom-web", "r", "p1", 12.0)
    assert default.verify_tls and default.auth_kind == "basic" and default.source == str(ini)
    by_url = load_config("https://pacs.example.org/dicom-web", env={}, path=ini)
    assert by_url.password == "p1"
    named = load_config("research", env={}, path=ini)
    assert (named.url, named.token, named.auth_kind) == ("https://research.example.org/dw", "t2", "bearer")
    assert "p1" not in repr(default) and "t2" not in repr(named)  # secrets stay out of reprs and logs


def test_file_credentials_never_go_to_another_server(tmp_path: Path) -> None:
    ini = _ini(tmp_path / "pacs.ini", "[pacs]\nurl = https://pacs.example.org/dicom-web\nusername = r\npassword = p\n")
    other = load_config("https://elsewhere.example.org/dicom-web", env={}, path=ini)
    assert other.auth_kind == "none" and other.password == ""


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    ini = _ini(tmp_path / "pacs.ini", "[pacs]\nurl = https://pacs.example.org/dw\nusername = r\npassword = p\n")
    env = {"XRAYVIEWER_PACS_USERNAME": "envuser", "XRAYVIEWER_PACS_PASSWORD": "envpw",
           "XRAYVIEWER_PACS_URL": "https://pacs.example.org/dw"}
    cfg = load_config(None, env=env, path=ini)
    assert (cfg.username, cfg.password, cfg.source) == ("envuser", "envpw", "environment")


@pytest.mark.parametrize(("target", "env", "message"), [
    ("https://u:pw@pacs.example.org/dw", {}, "credentials in the URL are refused"),
    ("ftp://pacs.example.org", {}, "not a DICOMweb URL"),
    ("https://pacs.example.org/dw?x=1", {}, "no query or fragment"),
    (None, {}, "no PACS given"),
    ("nosuchname", {}, "no server named 'nosuchname'"),
    ("http://pacs.example.org/dw", {"XRAYVIEWER_PACS_TOKEN": "t"}, "refusing to send credentials over plain http"),
    ("https://p.example.org/dw", {"XRAYVIEWER_PACS_TOKEN": "t", "XRAYVIEWER_PACS_USERNAME": "u"}, "keep one"),
    ("https://p.example.org/dw", {"XRAYVIEWER_PACS_USERNAME": "u"}, "no password"),
    ("https://p.example.org/dw", {"XRAYVIEWER_PACS_TIMEOUT": "soon"}, "not a number of seconds"),
    ("https://p.example.org/dw", {"XRAYVIEWER_PACS_CA_BUNDLE": "/no/such/ca.pem"}, "does not exist"),
])
def test_bad_settings_get_one_clear_message(tmp_path: Path, target: str | None, env: dict[str, str],
                                            message: str) -> None:
    with pytest.raises(PacsError, match=message) as caught:
        load_config(target, env=env, path=tmp_path / "none.ini")
    assert caught.value.kind == "config"
    assert "pw" not in str(caught.value).replace("https://u:pw", "")  # the message does not echo a password


def test_plain_http_to_this_machine_is_fine(tmp_path: Path) -> None:
    cfg = load_config("http://127.0.0.1:8042/dicom-web", env={"XRAYVIEWER_PACS_TOKEN": "t"}, path=tmp_path / "x")
    assert cfg.auth_kind == "bearer"


def test_tls_off_only_by_choice_and_with_a_warning(tmp_path: Path, caplog) -> None:
    ini = _ini(tmp_path / "pacs.ini", "[pacs]\nurl = https://test.example.org/dw\nverify_tls = no\n")
    with caplog.at_level(logging.WARNING):
        cfg = load_config(None, env={}, path=ini)
    assert cfg.verify_tls is False and "TLS certificate checks are OFF" in caplog.text
    assert load_config("https://x.example.org/dw", env={}, path=ini).verify_tls is True
    client = PacsClient(load_config("https://x.example.org/dw", env={}, path=ini))
    assert client._session.verify is True


def test_readable_secret_file_warns(tmp_path: Path, caplog) -> None:
    ini = _ini(tmp_path / "pacs.ini", "[pacs]\nurl = https://p.example.org/dw\ntoken = t\n", mode=0o644)
    with caplog.at_level(logging.WARNING):
        load_config(None, env={}, path=ini)
    assert "readable by others (chmod 600 it)" in caplog.text


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    ini = _ini(tmp_path / "pacs.ini", "this is not an ini file\n")
    with pytest.raises(PacsError, match="cannot read the PACS config"):
        load_config(None, env={}, path=ini)
