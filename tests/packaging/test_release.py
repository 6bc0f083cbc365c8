"""The release archive (packaging/release-archive.sh, run by `build.sh --release`) and its checks.

A real PyInstaller build takes minutes (build.sh's job), so the archive is made from a stand-in one-folder
build with the same layout: an `xrayviewer` executable that answers --version, and `_internal/`.
check_build.py's archive checks (checksum, unpack, SHA256SUMS of every file) run on the result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import subprocess
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "release-archive.sh"
EPOCH = 1_700_000_000
NAME = f"xrayviewer-9.8.7-linux-{platform.machine()}"


def load_check_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_build", ROOT / "packaging" / "check_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_build = load_check_build()


def fake_build(folder: Path) -> Path:
    exe = folder / "xrayviewer"
    (folder / "_internal" / "models").mkdir(parents=True)
    (folder / "_internal" / "resources" / "samples").mkdir(parents=True)
    exe.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "xrayviewer 9.8.7"\n')
    exe.chmod(0o755)
    (folder / "_internal" / "models" / "m.onnx").write_bytes(os.urandom(4096))
    (folder / "_internal" / "resources" / "samples" / "a.jpeg").write_bytes(b"\xff\xd8 film")
    (folder / "_internal" / "libfoo.so.1").write_bytes(b"ELF")
    (folder / "_internal" / "libfoo.so").symlink_to("libfoo.so.1")
    return folder


def make_archive(build: Path, out: Path) -> Path:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    r = subprocess.run(["bash", str(SCRIPT), str(build), str(out)], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return out / f"{NAME}.tar.gz"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("release")
    return make_archive(fake_build(tmp / "build"), tmp / "out")


def test_archive_is_versioned_and_listed_in_sha256sums(archive: Path) -> None:
    assert archive.is_file()
    sums = (archive.parent / "SHA256SUMS").read_text(encoding="utf-8")
    assert sums == f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {archive.name}\n"
    assert not list(archive.parent.glob(".release-stage*")) and not list(archive.parent.glob("*.partial"))


def test_archive_holds_one_folder_with_the_build_license_desktop_files_and_sums(archive: Path) -> None:
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {n.split("/")[0] for n in members} == {NAME}
    for rel in ("xrayviewer", "_internal/models/m.onnx", "_internal/resources/samples/a.jpeg", "LICENSE",
                "install-desktop-entry.sh", "linux/io.github.xrayviewer.desktop", "linux/io.github.xrayviewer.svg",
                "linux/io.github.xrayviewer-256.png", "linux/io.github.xrayviewer.metainfo.xml", "SHA256SUMS"):
        assert f"{NAME}/{rel}" in members, rel
    assert members[f"{NAME}/xrayviewer"].mode & 0o111 and members[f"{NAME}/install-desktop-entry.sh"].mode & 0o111
    assert members[f"{NAME}/_internal/libfoo.so"].issym()
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == EPOCH for m in members.values())


def test_archive_is_reproducible(archive: Path, tmp_path: Path) -> None:
    build = fake_build(tmp_path / "build")
    with tarfile.open(archive) as tar:  # the stand-in model is random bytes: take the first build's
        model = tar.extractfile(f"{NAME}/_internal/models/m.onnx").read()  # type: ignore[union-attr]
    (build / "_internal" / "models" / "m.onnx").write_bytes(model)
    again = make_archive(tmp_path / "build", tmp_path / "out")
    assert again.read_bytes() == archive.read_bytes()


def test_check_build_unpacks_and_verifies_every_file(archive: Path, tmp_path: Path) -> None:
    results: list[tuple[str, bool, str]] = []
    folder = check_build.unpack_archive(archive, tmp_path / "unpacked", results)
    assert folder == tmp_path / "unpacked" / NAME
    assert [ok for _, ok, _ in results] == [True], results
    assert check_build.verify_sums(folder).startswith("10 files")  # the symlink is not a file of its own


@pytest.mark.parametrize("damage", ["change", "remove", "add"])
def test_check_build_finds_a_damaged_unpacked_archive(archive: Path, tmp_path: Path, damage: str) -> None:
    folder = check_build.unpack_archive(archive, tmp_path / "unpacked", [])
    target = folder / "_internal" / "models" / "m.onnx"
    if damage == "change":
        target.write_bytes(b"tampered")
    elif damage == "remove":
        target.unlink()
    else:
        (folder / "_internal" / "dropped-in.so").write_bytes(b"x")
    with pytest.raises(check_build.CheckFailed):
        check_build.verify_sums(folder)


def test_check_build_refuses_an_archive_that_does_not_match_its_checksum(archive: Path, tmp_path: Path) -> None:
    copy = tmp_path / archive.name
    copy.write_bytes(archive.read_bytes() + b"\0")
    (tmp_path / "SHA256SUMS").write_text((archive.parent / "SHA256SUMS").read_text(encoding="utf-8"))
    results: list[tuple[str, bool, str]] = []
    check_build.unpack_archive(copy, tmp_path / "unpacked", results)
    assert [ok for _, ok, _ in results] == [False]


def test_desktop_entry_from_the_unpacked_archive_launches_its_binary(archive: Path, tmp_path: Path) -> None:
    folder = check_build.unpack_archive(archive, tmp_path / "unpacked", [])
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "share")}
    r = subprocess.run(["bash", str(folder / "install-desktop-entry.sh")], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    entry = (tmp_path / "share" / "applications" / "io.github.xrayviewer.desktop").read_text(encoding="utf-8")
    assert f'Exec="{folder / "xrayviewer"}" gui %f' in entry.splitlines()


@pytest.mark.parametrize(("line", "allowed"), [
    ('7 bind(5, {sa_family=AF_INET6, sin6_port=htons(0), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", '
     '&sin6_addr), sin6_scope_id=0}, 28) = 0', True),
    ('7 bind(5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0', True),
    ('7 bind(5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0', False),
    ('7 connect(3, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = -1', False),
])
def test_frozen_no_network_check_allows_only_loopback_binds(line: str, allowed: bool) -> None:
    """urllib3's import-time IPv6 probe binds ::1; anything else on AF_INET/AF_INET6 still fails the build."""
    assert bool(check_build.LOOPBACK_BIND.search(line)) == allowed
