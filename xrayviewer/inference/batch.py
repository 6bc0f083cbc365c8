"""Batch scoring as three separate pieces, so another engine or another output plugs in without the CLI:

1. **rows** - :func:`score_rows` turns film paths into CSV rows batch by batch (decode -> preprocess ->
   engine -> :class:`ScoreRow`). The engine's part is a *batch scorer*: any callable shaped like
   :func:`xrayviewer.inference.scoring.score_batches` (paths in, ``list[FilmResult]`` per batch out, in
   order); :func:`rows_from_batches` turns any such stream into rows.
2. **the CSV** - :class:`RowWriter` writes the rows to a temp file beside the target, appending and
   flushing per batch, and renames it into place only when the run completes (or to ``.partial``);
   with ``append=True`` (``--resume``, see :mod:`.resume`) it appends to the CSV itself instead, one
   write and fsync per batch, so the file stays valid however the run ends.
3. **per-film outputs** - :class:`OutputPool` writes heat maps (or other per-film files) on a bounded
   thread pool beside the scoring; one failure never stops the run.

``xrayviewer score`` is these three plus argument parsing and messages.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from xrayviewer.common.csv_safety import safe_row
from xrayviewer.common.files import AtomicFile
from xrayviewer.common.text import path_text
from xrayviewer.common.vocab import Label, Status
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.scoring import FilmResult, default_workers, score_batches
from xrayviewer.scope import OUT_OF_SCOPE, ScopeGate

#: The score CSV's columns, in order (README: Command line).
COLUMNS: tuple[str, ...] = (
    "path",
    "pneumonia_probability",
    "prediction",
    "threshold",
    "borderline",
    "status",
    "error",
    "sha256",
    "model_id",
    "scope",
    "scope_reason",
    "warnings",
)


class BatchScorer(Protocol):
    """What :func:`score_rows` needs from an engine: FilmResults per batch, in input order, one per path.

    Unreadable films must come back as ``Status.ERROR`` results, never as exceptions; setting ``cancel``
    stops after the batch in flight; closing the iterator stops the work.
    """

    def __call__(self, paths: Sequence[Path], engine: Any, *, batch_size: int, workers: int | None,
                 keep_cam: bool, cancel: threading.Event | None) -> Iterator[list[FilmResult]]: ...


def relative_name(path: Path, base: Path) -> str:
    """Path relative to the scored folder, with ``/`` separators, safe for CSV and terminal."""
    try:
        rel = path.relative_to(base)
    except ValueError:
        rel = path
    return path_text(rel.as_posix())


@dataclass(frozen=True)
class ScoreRow:
    """One film's row of the score CSV, with the result it came from (for heat maps and other outputs)."""

    result: FilmResult
    path: str  # relative to the scored folder, `/` separators, printable
    threshold: float  # the model card's
    model_id: str

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def error(self) -> str:
        """Why the film could not be scored (printable), or ''."""
        return "" if self.ok else (path_text(self.result.error) or "unknown error")

    def cells(self) -> list[str]:
        """The row as CSV text, in :data:`COLUMNS` order."""
        r = self.result
        scope = _scope_cells(r)
        if self.ok and r.out_of_scope:  # read fine, but the model's call is withheld: no probability
            return [self.path, "", OUT_OF_SCOPE, f"{r.threshold:g}", "", str(Status.OK), "", r.sha256,
                    self.model_id, *scope]
        if self.ok:
            return [self.path, f"{r.probability:.6f}", str(r.prediction), f"{r.threshold:g}",
                    "yes" if r.borderline else "no", str(Status.OK), "", r.sha256, self.model_id, *scope]
        return [self.path, "", "", f"{self.threshold:g}", "", str(Status.ERROR), self.error, r.sha256,
                self.model_id, "", "", ""]


def _scope_cells(r: FilmResult) -> list[str]:
    """``scope``, ``scope_reason``, ``warnings``: empty when the film was scored without a gate."""
    if r.scope is None:
        return ["", "", ""]
    return [r.scope.label, path_text(r.scope.reason_text), path_text(r.scope.warning_text)]


def rows_from_batches(batches: Iterable[list[FilmResult]], *, base: Path, card: ModelCard,
                      threshold: float | None = None) -> Iterator[list[ScoreRow]]:
    """FilmResults per batch -> ScoreRows per batch (same order); `threshold`: a site threshold in force."""
    t = card.threshold if threshold is None else threshold
    for batch in batches:
        yield [ScoreRow(r, relative_name(r.path, base), t, card.id) for r in batch]


def score_rows(paths: Sequence[Path], engine: Any, *, base: Path, batch_size: int = 16,
               workers: int | None = None, keep_cam: bool = False, cancel: threading.Event | None = None,
               scorer: BatchScorer = score_batches,
               gate: ScopeGate | None = None) -> Generator[list[ScoreRow], None, None]:
    """Score ``paths`` with ``engine`` and yield their rows batch by batch, in input order.

    ``engine`` is what ``scorer`` runs (an :class:`~xrayviewer.inference.engine.Engine` for the default
    in-process scorer); it must have a ``card``. Closing the returned iterator stops the scorer. With a
    scope ``gate`` (which the scorer must then accept as a keyword) rows carry ``scope``/``scope_reason``/
    ``warnings`` and out-of-scope films get prediction OUT_OF_SCOPE and no probability.
    """
    extra: dict[str, Any] = {"gate": gate} if gate is not None else {}
    batches = scorer(paths, engine, batch_size=batch_size, workers=workers, keep_cam=keep_cam, cancel=cancel,
                     **extra)
    try:
        yield from rows_from_batches(batches, base=base, card=engine.card,
                                     threshold=getattr(engine, "threshold", None))
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def find_films(root: Path, *, exclude: Path | None = None) -> tuple[list[Path], Path]:
    """The films to score under ``root`` (or ``root`` itself) and the folder rows are relative to.

    Films inside ``exclude`` (heat maps an earlier run wrote into the scored folder) are left out.
    """
    from xrayviewer.films import discover_films

    paths = discover_films(root)
    if exclude is not None and root.is_dir():
        skip = exclude.resolve()
        paths = [p for p in paths if not p.resolve().is_relative_to(skip)]
    return paths, (root if root.is_dir() else root.parent)


@dataclass
class Tally:
    """Running counts for the summary line."""

    ok: int = 0
    errors: int = 0
    positive: int = 0
    out_of_scope: int = 0  # among ``ok``: read fine, refused by the scope gate

    @property
    def done(self) -> int:
        return self.ok + self.errors

    def add(self, rows: Iterable[ScoreRow]) -> None:
        for row in rows:
            if row.ok:
                self.ok += 1
                self.positive += row.result.prediction == Label.PNEUMONIA
                self.out_of_scope += row.result.out_of_scope
            else:
                self.errors += 1


class RowWriter:
    """The score CSV, written atomically: the header at once, rows appended and flushed per batch.

    The rows live in a temp file beside the target until :meth:`commit` renames it into place, so a
    reader never sees a CSV that looks complete but is not. Leaving the ``with`` block without a commit
    removes the temp file. Raises OSError when the file cannot be created or written.

    ``append=True`` (a run that can resume) writes to the target itself: the header only when the file
    is new or empty, then each batch's rows as one write, flushed and fsynced, so after a crash or
    ``kill -9`` the CSV holds every finished batch (at worst the last line is torn if the kill lands
    inside that one write; :func:`~xrayviewer.inference.resume.prepare_resume` drops such a line). Nothing
    is ever removed: :meth:`keep_partial` and :meth:`discard` only close it.
    """

    def __init__(self, target: Path, columns: Sequence[str] = COLUMNS, *, append: bool = False) -> None:
        self.target = Path(target)
        self.append = append
        self.rows = 0
        self._atomic: AtomicFile | None = None
        if append:
            if self.target.is_dir():
                raise IsADirectoryError(21, "it is a folder", str(self.target))
            self._out: IO[str] = open(self.target, "a", encoding="utf-8", newline="")  # noqa: SIM115
            if self._out.tell() == 0:
                self._put([list(columns)])
        else:
            self._atomic = AtomicFile(self.target)
            self._out = self._atomic.file
            self._put([list(columns)])

    def _put(self, rows: Iterable[Sequence[str]]) -> int:
        """Write rows as one piece of text (one write call) and flush it; fsync too when appending."""
        text = io.StringIO()
        writer = csv.writer(text)
        n = 0
        for cells in rows:
            writer.writerow(safe_row(cells))  # no cell a spreadsheet would run as a formula
            n += 1
        self._out.write(text.getvalue())
        self._out.flush()
        if self.append:
            os.fsync(self._out.fileno())
        return n

    def write(self, rows: Iterable[ScoreRow]) -> None:
        """Append rows and flush them (a long run's work never sits only in RAM)."""
        self.rows += self._put(row.cells() for row in rows)

    def commit(self) -> Path:
        """Sync and rename over the target (appending: sync and close it); returns it."""
        if self._atomic is not None:
            return self._atomic.commit()
        self._close()
        return self.target

    def keep_partial(self) -> Path:
        """Keep the rows so far as ``TARGET.partial`` (an interrupted run); the target is not touched.

        Appending, the rows so far are already in the target, which is returned (a later ``--resume``
        goes on from them)."""
        if self._atomic is None:
            self._close()
            return self.target
        partial = self.target.with_name(self.target.name + ".partial")
        self._atomic.abandon(keep_as=partial)
        return partial

    def discard(self) -> None:
        if self._atomic is not None:
            self._atomic.abandon()
        else:
            self._close()

    def _close(self) -> None:
        if not self._out.closed:
            try:
                self._out.flush()
                os.fsync(self._out.fileno())
            finally:
                self._out.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._atomic is not None:
            self._atomic.abandon()  # no-op after commit / keep_partial
        else:
            with contextlib.suppress(OSError):
                self._close()


class OutputPool:
    """Per-film files (heat maps) made on a small thread pool while scoring goes on.

    At most ``backlog`` jobs wait: :meth:`submit` first settles older ones, so memory stays flat however
    fast scoring runs. A failed job counts in ``failed`` and is reported through ``on_error(label, exc)``;
    it never stops the run.
    """

    def __init__(self, workers: int | None = None, *, backlog: int | None = None,
                 on_error: Callable[[str, Exception], None] | None = None, name: str = "output") -> None:
        self.workers = workers or default_workers()
        self.backlog = backlog if backlog is not None else 4 * self.workers
        self.on_error = on_error
        self.done = 0
        self.failed = 0
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name)
        self._jobs: deque[tuple[str, Future[Any]]] = deque()

    def submit(self, label: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        self._jobs.append((label, self._pool.submit(fn, *args, **kwargs)))
        self.settle(self.backlog)

    def settle(self, limit: int = 0) -> None:
        """Wait for the oldest jobs until at most ``limit`` are outstanding."""
        while len(self._jobs) > limit:
            label, fut = self._jobs.popleft()
            try:
                fut.result()
                self.done += 1
            except Exception as exc:  # one bad output never stops the run
                self.failed += 1
                if self.on_error is not None:
                    self.on_error(label, exc)

    def cancel(self) -> None:
        """Drop jobs not started yet (an interrupted run)."""
        for _, fut in self._jobs:
            fut.cancel()

    def close(self) -> None:
        """Wait for running jobs, drop queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OutputPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
