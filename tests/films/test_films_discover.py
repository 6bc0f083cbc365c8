"""discover_films: what counts as a film, in what order, and robustness to odd folder trees."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from xrayviewer.films import FILM_SUFFIXES, discover_films, load_film

from .testkit import jpeg_bytes, make_dataset, save


@pytest.fixture
def tree(tmp_path: Path, source_gray: np.ndarray) -> Path:
    root = tmp_path / "study"
    jpeg = jpeg_bytes(source_gray[:64, :64])
    files = {
        "b.jpg": jpeg,
        "a.JPEG": jpeg,
        "c.png": b"\x89PNG\r\n\x1a\n",
        "upper.DCM": b"",
        "x.dicom": b"",
        "notes.txt": b"hello",
        "README": b"just text, no extension",
        "random": np.random.default_rng(0).bytes(400),
        ".hidden.jpg": jpeg,
        "sub/deeper/z.jpg": jpeg,
        "sub/a.jpg": jpeg,
        ".git/objects/q.jpg": jpeg,
        "sub/.cache/y.png": jpeg,
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    ds = make_dataset(source_gray[:32, :32])
    save(ds, root / "IM0001")  # extension-less DICOM with preamble
    save(ds, root / "1.2.840.99.7")  # UID-named: the numeric "suffix" is not an extension
    ds2 = make_dataset(source_gray[:32, :32])
    del ds2.file_meta
    ds2.save_as(root / "sub" / "RAWDATASET", enforce_file_format=False, implicit_vr=True, little_endian=True)
    (root / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + bytes(64))  # media index: never a film
    return root


def rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_finds_films_recursively_in_stable_order(tree: Path) -> None:
    found = discover_films(tree)
    assert rel(found, tree) == [
        "1.2.840.99.7",
        "IM0001",
        "a.JPEG",
        "b.jpg",
        "c.png",
        "sub/RAWDATASET",
        "sub/a.jpg",
        "sub/deeper/z.jpg",
        "upper.DCM",
        "x.dicom",
    ]
    assert discover_films(tree) == found
    assert all(p.is_relative_to(tree) for p in found)


def test_extension_less_dicom_loads(tree: Path) -> None:
    film = load_film(tree / "IM0001")
    assert film.format == "dicom" and film.pixels.shape == (32, 32)
    assert load_film(tree / "sub" / "RAWDATASET").format == "dicom"


def test_root_file_is_returned_as_is(tree: Path) -> None:
    assert discover_films(tree / "notes.txt") == [tree / "notes.txt"]


def test_missing_root_gives_empty_list(tmp_path: Path) -> None:
    assert discover_films(tmp_path / "nope") == []


def test_suffixes_are_lower_case() -> None:
    assert set(FILM_SUFFIXES) == {".jpg", ".jpeg", ".png", ".dcm", ".dicom"}


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_loops_terminate_and_linked_dirs_count_once(tmp_path: Path, source_gray: np.ndarray) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "film.jpg").write_bytes(jpeg_bytes(source_gray[:16, :16]))
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "a" / "self").symlink_to(root / "a", target_is_directory=True)
    (root / "b_link").symlink_to(root / "a", target_is_directory=True)
    (root / "dangling.jpg").symlink_to(root / "missing.jpg")
    (root / "linked.jpg").symlink_to(root / "a" / "film.jpg")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "c_outside").symlink_to(outside, target_is_directory=True)
    assert rel(discover_films(root), root) == ["a/film.jpg", "c_outside/o.png", "linked.jpg"]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="file names must be valid Unicode here")
def test_non_utf8_names(tmp_path: Path, source_gray: np.ndarray) -> None:
    name = os.fsdecode(b"r\xf6ntgen-\xff.jpg")
    folder = tmp_path / os.fsdecode(b"d\xe9j\xe0")
    folder.mkdir()
    (folder / name).write_bytes(jpeg_bytes(source_gray[:16, :16]))
    found = discover_films(tmp_path)
    assert found == [folder / name]
    assert os.fsencode(found[0].name) == b"r\xf6ntgen-\xff.jpg"
    assert load_film(found[0]).pixels.shape == (16, 16)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root can read any folder")
def test_unreadable_folder_is_skipped(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "ok.jpg").write_bytes(b"\xff\xd8\xff")
    locked.chmod(0)
    try:
        assert rel(discover_films(tmp_path), tmp_path) == ["ok.jpg"]
    finally:
        locked.chmod(0o700)


def test_unreadable_folder_is_skipped_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also runs as root: scandir is made to fail for one folder, as it does without permission."""
    from xrayviewer.films import discover as discover_module

    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "a.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "ok.jpg").write_bytes(b"\xff\xd8\xff")
    real_scandir = os.scandir

    def scandir(path: str):  # type: ignore[no-untyped-def]
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(discover_module.os, "scandir", scandir)
    assert rel(discover_films(tmp_path), tmp_path) == ["ok.jpg"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_without_extension_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert discover_films(tmp_path) == []
