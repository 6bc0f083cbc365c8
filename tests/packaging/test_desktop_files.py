"""The Linux desktop integration files are well formed and agree with each other and the project."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.github.xrayviewer"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # desktop keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def split_list(value: str) -> list[str]:
    return [v for v in value.split(";") if v]


def test_desktop_entry_has_required_keys() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "xrayviewer"
    assert entry["Exec"].split()[0] == "xrayviewer" and "%f" in entry["Exec"].split()
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"
    assert "not a diagnosis" in entry["Comment"]
    assert {"Graphics", "MedicalSoftware", "Science"} <= set(split_list(entry["Categories"]))
    assert {"image/jpeg", "image/png", "application/dicom"} <= set(split_list(entry["MimeType"]))
    for key in ("Categories", "MimeType", "Keywords"):  # the spec wants lists ;-terminated
        assert entry[key].endswith(";"), key


def test_metainfo_is_well_formed_and_matches_the_desktop_entry() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == DESKTOP.stem == APP_ID
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id" and launchable.text == DESKTOP.name
    assert root.findtext("metadata_license") == "CC0-1.0"
    # (regex, not tomllib: the project supports Python 3.10)
    license_ = re.search(r'^license\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert license_ and root.findtext("project_license") == license_.group(1)
    assert root.findtext("summary")
    description = " ".join(" ".join((root.find("description") or ET.Element("x")).itertext()).split())
    assert "assistant, not a diagnosis" in description
    assert root.find("content_rating") is not None
    # no placeholder screenshots or URLs: every one present must be a real absolute https address
    urls = [e.text or "" for e in root.iter() if e.tag in ("image", "url", "video")]
    assert all(u.startswith("https://") for u in urls), urls
    mediatypes = {e.text for e in root.iter("mediatype")}
    assert mediatypes == set(split_list(desktop_entry()["MimeType"]))


def test_icons() -> None:
    from PIL import Image

    svg = ET.parse(LINUX / f"{APP_ID}.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    with Image.open(LINUX / f"{APP_ID}-256.png") as png:
        assert png.format == "PNG" and png.size == (256, 256) and png.mode == "RGBA"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validate() -> None:
    r = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "error" not in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_appstreamcli_validate() -> None:
    r = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_install_script_installs_into_xdg_data_home(tmp_path: Path) -> None:
    """The per-user installer points Exec at the given binary (quoted) and can uninstall again."""
    exe = tmp_path / "my apps" / "xrayviewer"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    data = tmp_path / "share"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(data)}
    script = ROOT / "packaging" / "install-desktop-entry.sh"
    r = subprocess.run(["bash", str(script), str(exe)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    installed = (data / "applications" / DESKTOP.name).read_text(encoding="utf-8")
    assert f'Exec="{exe}" gui %f' in installed.splitlines()
    assert (data / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()
    assert (data / "icons/hicolor/256x256/apps" / f"{APP_ID}.png").is_file()
    r = subprocess.run(["bash", str(script), "--uninstall"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not (data / "applications" / DESKTOP.name).exists()
