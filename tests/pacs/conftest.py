"""Orthanc for the PACS tests: one server per test session, a fault proxy in front of it per test."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pacs.orthanc import FaultProxy, Orthanc, find_orthanc, start_orthanc

USERS = {"reader": "correct horse battery staple"}


def _why_no_orthanc() -> str | None:
    if find_orthanc() is not None:
        return None
    if os.environ.get("CI"):
        return None  # never skip in CI: the fixture fails instead, naming the install step
    if platform.system() != "Linux":
        return f"Debian's orthanc packages cannot exist on {platform.system()}"
    return "Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)"


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    if reason := _why_no_orthanc():
        pytest.skip(reason)
    assert find_orthanc() is not None, "Orthanc is missing: scripts/system-deps.sh test installs orthanc-dicomweb"
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"), USERS)
    yield server
    server.stop()


@pytest.fixture
def proxy(orthanc: Orthanc) -> Iterator[FaultProxy]:
    p = FaultProxy(orthanc.port)
    yield p
    p.close()


@pytest.fixture
def pacs_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean PACS environment: no inherited settings, the test's own config path and cache."""
    for key in list(os.environ):
        if key.startswith("XRAYVIEWER_PACS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XRAYVIEWER_PACS_CONFIG", str(tmp_path / "pacs.ini"))
    monkeypatch.setenv("XRAYVIEWER_PACS_CACHE", str(tmp_path / "cache"))
    user, password = next(iter(USERS.items()))
    return {"XRAYVIEWER_PACS_USERNAME": user, "XRAYVIEWER_PACS_PASSWORD": password}
