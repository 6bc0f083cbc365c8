"""Find film files under a folder: recursive, deterministic, and robust to odd file systems."""

from __future__ import annotations

import os
from pathlib import Path

from .sniff import HEAD_BYTES, looks_like_dicom

FILM_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".dcm", ".dicom")
"""Suffixes (lower case) taken as films without looking inside; compared case-insensitively."""

_SKIPPED_NAMES = frozenset({"dicomdir"})  # DICOM media directory index: never an image


def discover_films(root: Path) -> list[Path]:
    """Film files under `root`, sorted by their path relative to `root`.

    A file counts when its suffix is in FILM_SUFFIXES, or when it has no extension (or only a numeric
    one, as in UID-named files such as ``1.2.840.1234``) and its first bytes are DICOM. Hidden files
    and folders (leading ``.``) are skipped, symlinked folders are followed at most once per real
    folder (so loops end), and unreadable folders are skipped. A `root` that is a file is returned as
    ``[root]``; a missing or unreadable `root` gives ``[]``.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    found: list[tuple[str, Path]] = []
    seen_dirs: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]  # (real path to scan, path relative to root)
    while stack:
        directory, rel = stack.pop()
        key = _dir_key(directory)
        if key is None or key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # permission denied, vanished, not a directory, too many symlink levels...
            continue
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            child_rel = f"{rel}/{name}" if rel else name
            try:
                if entry.is_dir():  # follows symlinks; loops are cut by seen_dirs
                    subdirs.append((entry.path, child_rel))
                elif entry.is_file() and _is_film_file(entry.path, name):
                    found.append((child_rel, root / child_rel))
            except OSError:
                continue
        stack.extend(reversed(subdirs))
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


def _dir_key(path: str) -> tuple[int, int] | None:
    """Identity of a real folder, so a folder reached through several symlinks is scanned once."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _is_film_file(path: str, name: str) -> bool:
    stem, suffix = os.path.splitext(name)
    suffix = suffix.lower()
    if suffix in FILM_SUFFIXES:
        return True
    if name.lower() in _SKIPPED_NAMES:
        return False
    if suffix and not suffix[1:].isdigit():
        return False
    return _starts_like_dicom(path)


def _starts_like_dicom(path: str) -> bool:
    """Read only the first bytes: cheap enough to run on every extension-less file."""
    try:
        with open(path, "rb") as f:
            return looks_like_dicom(f.read(HEAD_BYTES))
    except OSError:
        return False
