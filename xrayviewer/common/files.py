"""The one atomic file write: a temp file beside the target, fsync, ``os.replace``, fsync of the folder.

A reader (or a crash, or a full disk) therefore sees the previous file or the complete new one, never half
of one. The temp file is created with ``O_EXCL`` and the umask's permissions (like any file the user
writes, unlike ``mkstemp``'s owner-only 0600) on the target's file system, so the rename is atomic.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name beside ``target``: ``.NAME.<random>.tmp``."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; not possible, nor needed, on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicFile:
    """A file that becomes ``target`` only on :meth:`commit`.

    Rows can be written and flushed as they come (a long run's work never sits only in RAM); :meth:`commit`
    syncs and renames it into place, :meth:`abandon` removes it or keeps it under another name (a
    ``.partial`` after an interrupted run). Raises OSError (``IsADirectoryError`` for a folder,
    ``FileNotFoundError`` when the folder is missing) when the temp file cannot be made.
    """

    def __init__(self, target: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> None:
        self.target = Path(target)
        if self.target.is_dir():
            raise IsADirectoryError(21, "it is a folder", str(self.target))
        if not self.target.parent.is_dir():
            raise FileNotFoundError(2, f"folder {self.target.parent} does not exist", str(self.target.parent))
        if "b" not in mode:
            open_kwargs.setdefault("encoding", "utf-8")
            open_kwargs.setdefault("newline", "")
        while True:
            self.temp = temp_path_for(self.target)
            try:
                fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        try:
            self.file: IO[Any] = os.fdopen(fd, mode, **open_kwargs)
        except BaseException:
            os.close(fd)
            self.temp.unlink(missing_ok=True)
            raise
        self.done = False

    def commit(self) -> Path:
        """Sync the data and rename it over the target; returns the target."""
        return self._finish(self.target)

    def abandon(self, keep_as: Path | None = None) -> Path | None:
        """Close without touching the target: remove the temp file, or rename it to ``keep_as``."""
        if self.done:
            return None
        if keep_as is not None:
            return self._finish(keep_as)
        self.done = True
        with contextlib.suppress(OSError):
            self.file.close()
        self.temp.unlink(missing_ok=True)
        return None

    def _finish(self, where: Path) -> Path:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temp, where)
        except BaseException:
            self.abandon()
            raise
        self.done = True
        fsync_folder(where.parent)
        return where

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and not self.done:
            self.commit()
        else:
            self.abandon()


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """``with atomic_write(path) as f: ...``: the target changes only if the block completes."""
    with AtomicFile(target, mode, **open_kwargs) as out:
        yield out.file
