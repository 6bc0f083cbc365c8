"""Batch scoring as three separate pieces, so another engine or another output plugs in without the CLI:

1. **rows** - :func:`score_rows` turns film paths into CSV rows batch by batch (decode -> preprocess ->
   engine -> :class:`ScoreRow`). The engine's part is a *batch scorer*: any callable shaped like
   :func:`xrayviewer.inference.scoring.score_batches` (paths in, ``list[FilmResult]`` per batch out, in
   order); :func:`rows_from_batches` turns any such stream into rows.
2. **the CSV** - :class:`RowWriter` writes the rows to a temp file beside the target, appending and
   flushing per batch, and renames it into place only when the run completes (or to ``.partial``).
3. **per-film outputs** - :class:`OutputPool` writes heat maps (or other per-film files) on a bounded
   thread pool beside the scoring; one failure never stops the run.

``xrayviewer score`` is these three plus argument parsing and messages.
"""

from __future__ import annotations

import csv
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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
               scorer: BatchScorer = score_batches, gate: ScopeGate | None = None) -> Iterator[list[ScoreRow]]:
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
    """

    def __init__(self, target: Path, columns: Sequence[str] = COLUMNS) -> None:
        self.target = Path(target)
        self._file = AtomicFile(self.target)
        self._csv = csv.writer(self._file.file)
        self._csv.writerow(columns)
        self.rows = 0

    def write(self, rows: Iterable[ScoreRow]) -> None:
        """Append rows and flush them to the temp file (a long run's work never sits only in RAM)."""
        n = 0
        for row in rows:
            self._csv.writerow(row.cells())
            n += 1
        self._file.file.flush()
        self.rows += n

    def commit(self) -> Path:
        """Sync and rename over the target; returns it."""
        return self._file.commit()

    def keep_partial(self) -> Path:
        """Keep the rows so far as ``TARGET.partial`` (an interrupted run); the target is not touched."""
        partial = self.target.with_name(self.target.name + ".partial")
        self._file.abandon(keep_as=partial)
        return partial

    def discard(self) -> None:
        self._file.abandon()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.abandon()  # no-op after commit / keep_partial


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
