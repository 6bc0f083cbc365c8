"""``--resume``: carry on a score run from the rows an earlier (killed, interrupted or older) run left.

A row of the existing CSV is kept when its film is still among the films to score and is the same film
scored the same way: same ``path``, same content (``sha256``, checked against the file's bytes now), same
``model_id`` and same ``threshold`` (a site threshold accepted since would change the call). Everything
else is dropped and scored again: changed or deleted films, another model, a torn last line left by a
``kill -9`` inside a write, duplicates. The CSV is rewritten atomically only when something is dropped,
then the run appends to it (:class:`~xrayviewer.inference.batch.RowWriter` with ``append=True``).

Kept rows stay where they were; the films still to score follow in input order. So a run interrupted at
any point and resumed ends with the same CSV as one run straight through (rows of films that changed in
between move to the end).

Checking the content hashes of many films is the one expensive step (every kept film is read once more);
``check`` lets an engine spread it out (the Ray engine hashes on the cluster), the default uses threads.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from xrayviewer.common.csv_safety import safe_cell
from xrayviewer.common.files import AtomicFile
from xrayviewer.common.vocab import Status
from xrayviewer.films import FilmError
from xrayviewer.films.load import read_film_bytes
from xrayviewer.inference.batch import COLUMNS, relative_name
from xrayviewer.inference.scoring import default_workers

#: ``check(films)``: for each (film, sha256 in the CSV), whether the film's bytes still hash to it.
HashCheck = Callable[[Sequence[tuple[Path, str]]], list[bool]]

# The columns that say which film a row is about and how it was scored (the rest is the result).
_KEY = ("path", "sha256", "model_id", "threshold")


class ResumeError(ValueError):
    """The existing CSV cannot be carried on (another program's file, or columns from another version)."""


def film_sha256(path: Path) -> str:
    """The content hash a score row carries for this film ('' when its bytes cannot be read, as there)."""
    try:
        return hashlib.sha256(read_film_bytes(path)).hexdigest()
    except (FilmError, OSError, MemoryError):
        return ""


def same_content(items: Sequence[tuple[Path, str]], workers: int | None = None) -> list[bool]:
    """:data:`HashCheck` on local threads (reading and hashing release the GIL)."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="resume") as pool:
        return list(pool.map(lambda item: film_sha256(item[0]) == item[1], items))


@dataclass
class Resume:
    """What an earlier run left: the films still to score and how many rows were kept."""

    todo: list[Path]
    kept: int = 0
    kept_errors: int = 0  # kept rows of films that could not be read (the run still exits 3)
    dropped: int = 0  # rows dropped to be scored again (changed, deleted or torn)
    source: Path | None = None  # the file the rows came from (the CSV, or its .partial)
    notes: list[str] = field(default_factory=list)


def partial_path(target: Path) -> Path:
    """Where an interrupted run without ``--resume`` left its rows (see RowWriter.keep_partial)."""
    return target.with_name(target.name + ".partial")


def prepare_resume(target: Path, paths: Sequence[Path], *, base: Path, model_id: str, threshold: float,
                   check: HashCheck = same_content, columns: Sequence[str] = COLUMNS) -> Resume:
    """Make ``target`` a valid CSV of the rows that still hold; return the films still to score.

    With no ``target`` but a ``TARGET.partial`` (a Ctrl-C'd run without ``--resume``) that file is taken
    over. Raises :class:`ResumeError` when the file's header is not ``columns``, OSError when it cannot be
    read or rewritten.
    """
    target = Path(target)
    if target.is_dir():
        raise IsADirectoryError(21, "it is a folder", str(target))
    source = target
    notes: list[str] = []
    if not target.exists() and partial_path(target).is_file():
        source = partial_path(target)
        notes.append(f"took over the rows of the interrupted run in {source.name}")
    if not source.exists():
        return Resume(list(paths), notes=notes)
    index = {name: i for i, name in enumerate(columns)}
    key = [index[c] for c in _KEY]
    want = {safe_cell(relative_name(p, base)): p for p in paths}  # as RowWriter wrote the path cell
    threshold_text = f"{threshold:g}"

    # Pass 1: the candidates (right film, model and threshold), first row per film; hashes checked after.
    candidates: list[tuple[int, str, Path, str]] = []  # (row number, path cell, film, sha256 cell)
    seen: set[str] = set()
    total = 0
    for n, cells in enumerate(_rows(source, columns)):
        total += 1
        path_cell, sha, mid, thr = (cells[i] for i in key)
        film = want.get(path_cell)
        if film is None or path_cell in seen or mid != model_id or thr != threshold_text:
            continue
        seen.add(path_cell)
        candidates.append((n, path_cell, film, sha))
    same = check([(film, sha) for _, _, film, sha in candidates])
    keep_rows = {n for (n, *_), ok in zip(candidates, same, strict=True) if ok}
    kept_names = {name for (_, name, _, _), ok in zip(candidates, same, strict=True) if ok}

    # Pass 2: rewrite (atomically) only when a row must go or the file needs repair; else append as is.
    status = index["status"]
    kept_errors = 0
    if len(keep_rows) != total or source != target or not _ends_cleanly(source):
        with AtomicFile(target) as out:
            writer = csv.writer(out.file)
            writer.writerow(columns)
            for n, cells in enumerate(_rows(source, columns)):
                if n in keep_rows:
                    writer.writerow(cells)
                    kept_errors += cells[status] == str(Status.ERROR)
        if source != target:
            source.unlink(missing_ok=True)
    else:
        kept_errors = sum(cells[status] == str(Status.ERROR) for cells in _rows(source, columns))
    todo = [p for name, p in want.items() if name not in kept_names]
    order = {id(p): i for i, p in enumerate(paths)}
    todo.sort(key=lambda p: order[id(p)])
    return Resume(todo, kept=len(keep_rows), kept_errors=kept_errors, dropped=total - len(keep_rows),
                  source=source, notes=notes)


def _ends_cleanly(path: Path) -> bool:
    """True when the file ends with a line break (its last row was written whole)."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _rows(path: Path, columns: Sequence[str]) -> Iterator[list[str]]:
    """The data rows of a score CSV, streamed; a torn last row (no final line break) is left out."""
    torn_tail = not _ends_cleanly(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ResumeError(f"{path.name} is not a score CSV ({exc})") from None
        if header is None:
            return
        if list(header) != list(columns):
            raise ResumeError(
                f"{path.name} does not have the score CSV's columns ({', '.join(columns)}): it was written by "
                "another program or another version; score into a new file")
        pending: list[str] | None = None  # held back one row: the last one may be torn
        try:
            for cells in reader:
                if pending is not None:
                    yield pending
                pending = cells if len(cells) == len(columns) else None  # a malformed row is dropped
        except csv.Error:  # e.g. the file ends inside a quoted cell: what follows is torn
            return
        if pending is not None and not torn_tail:
            yield pending
