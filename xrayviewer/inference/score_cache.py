"""Scores kept between sessions, so reopening a scored study shows every score at once.

A score is stored under the film's content hash (sha256 of the file's bytes, as everywhere in the app), the
model's key and the operating threshold it was called at: a renamed or moved film keeps its score, a changed
file, another model or another (site) threshold is scored again. Only films the model could read are kept
(an unreadable file may be fixed). The heat map travels with the score.

The cache is an SQLite file in the user cache folder (``platformdirs.user_cache_dir``); it is a cache, never
the only copy of anything: if it cannot be opened, read or written the app scores as if it were empty, and
a damaged file is set aside and started afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from xrayviewer.common.vocab import Status
from xrayviewer.inference.scoring import FilmResult
from xrayviewer.scope import OUT_OF_SCOPE, Scope

log = logging.getLogger(__name__)

MAX_ROWS = 500_000  # about 100 MB with 12x12 heat maps; the oldest go first
_CHUNK = 1 << 20


def default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("xrayviewer", appauthor=False)) / "scores.sqlite3"


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes (the same hash the decoders put on a Film). Raises OSError."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def model_key(model_id: str, model_path: Path | None) -> str:
    """The model's id plus a hash of its file: a retrained model that kept its id still scores afresh."""
    if model_path is None:
        return model_id
    try:
        return f"{model_id}@{file_sha256(Path(model_path))[:16]}"
    except OSError:
        return model_id


def threshold_key(threshold: float) -> str:
    return f"{float(threshold):.6g}"


@dataclass(frozen=True)
class CachedScore:
    sha256: str
    probability: float  # NaN for an out-of-scope film
    prediction: str
    borderline: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    original_size: tuple[int, int] | None
    cam: np.ndarray | None
    threshold: float

    def to_result(self, path: Path) -> FilmResult:
        return FilmResult(Path(path), Status.OK, sha256=self.sha256, probability=self.probability,
                          prediction=self.prediction, threshold=self.threshold, borderline=self.borderline,
                          cam=self.cam, notes=list(self.notes), original_size=self.original_size,
                          scope=Scope(reasons=self.reasons, warnings=self.warnings))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    threshold TEXT NOT NULL,
    probability REAL,
    prediction TEXT NOT NULL,
    borderline INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    warnings TEXT NOT NULL,
    notes TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    cam BLOB,
    cam_h INTEGER,
    cam_w INTEGER,
    PRIMARY KEY (sha256, model, threshold)
) WITHOUT ROWID
"""
_COLUMNS = ("sha256", "probability", "prediction", "borderline", "reasons", "warnings", "notes", "width",
            "height", "cam", "cam_h", "cam_w", "threshold")


class ScoreCache:
    """One cache file; safe to use from several threads (one connection behind a lock)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.error = ""
        try:
            self._conn = self._open()
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and self.path.is_file():
                self._set_aside()
                try:
                    self._conn = self._open()
                    return
                except (sqlite3.Error, OSError) as again:
                    exc = again
            self.error = f"score cache unavailable ({self.path}): {exc}"
            log.warning("%s; scoring without it", self.error)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(os.fspath(self.path), timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last rows on power loss is fine
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_aside(self) -> None:
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        with contextlib.suppress(OSError):
            os.replace(self.path, aside)
            log.warning("score cache was damaged; moved aside to %s", aside)

    @property
    def usable(self) -> bool:
        return self._conn is not None

    def get_many(self, shas: Sequence[str], model: str, threshold: float) -> dict[str, CachedScore]:
        """The cached scores among ``shas`` for this model and threshold, by sha256 ({} when unusable)."""
        if self._conn is None or not shas:
            return {}
        t = threshold_key(threshold)
        found: dict[str, CachedScore] = {}
        try:
            with self._lock:
                for i in range(0, len(shas), 500):
                    part = list(shas[i:i + 500])
                    marks = ",".join("?" * len(part))
                    rows = self._conn.execute(
                        f"SELECT {', '.join(_COLUMNS)} FROM scores WHERE model = ? AND threshold = ? "
                        f"AND sha256 IN ({marks})", (model, t, *part)).fetchall()
                    for row in rows:
                        score = _from_row(row)
                        found[score.sha256] = score
        except (sqlite3.Error, ValueError) as exc:
            log.warning("score cache could not be read (%s); scoring without it", exc)
            return {}
        return found

    def put_many(self, results: Iterable[FilmResult], model: str) -> int:
        """Keep the results the model could read (in one transaction); returns how many were stored."""
        if self._conn is None:
            return 0
        rows = [_to_row(r, model) for r in results if r.ok and r.sha256]
        if not rows:
            return 0
        try:
            with self._lock:
                self._conn.execute("BEGIN")
                try:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO scores (sha256, model, threshold, probability, prediction, "
                        "borderline, reasons, warnings, notes, width, height, cam, cam_h, cam_w) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            log.warning("score cache could not be written (%s); scores are not kept", exc)
            return 0
        return len(rows)

    def count(self) -> int:
        if self._conn is None:
            return 0
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM scores").fetchone()[0])

    def prune(self, max_rows: int = MAX_ROWS) -> int:
        """Drop rows beyond ``max_rows`` (arbitrary ones: it is a cache); returns how many went."""
        if self._conn is None:
            return 0
        try:
            with self._lock:
                n = int(self._conn.execute("SELECT count(*) FROM scores").fetchone()[0])
                if n <= max_rows:
                    return 0
                self._conn.execute("DELETE FROM scores WHERE (sha256, model, threshold) IN "
                                   "(SELECT sha256, model, threshold FROM scores LIMIT ?)", (n - max_rows,))
                return n - max_rows
        except sqlite3.Error as exc:
            log.warning("score cache could not be pruned: %s", exc)
            return 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _to_row(r: FilmResult, model: str) -> tuple[object, ...]:
    cam = None if r.cam is None else np.ascontiguousarray(np.asarray(r.cam, np.float32))
    if cam is not None and cam.ndim == 3:
        cam = cam[0]
    probability = None if r.prediction == OUT_OF_SCOPE else float(r.probability)
    reasons = list(r.scope.reasons) if r.scope is not None else []
    warnings = list(r.scope.warnings) if r.scope is not None else []
    width, height = r.original_size if r.original_size else (None, None)
    return (r.sha256, model, threshold_key(r.threshold), probability, r.prediction, int(r.borderline),
            json.dumps(reasons), json.dumps(warnings), json.dumps(list(r.notes)), width, height,
            None if cam is None else cam.tobytes(), None if cam is None else cam.shape[0],
            None if cam is None else cam.shape[1])


def _from_row(row: Sequence[Any]) -> CachedScore:
    sha, p, prediction, borderline, reasons, warnings, notes, width, height, cam, cam_h, cam_w, t = row
    heat = None
    if cam is not None:
        heat = np.frombuffer(cam, np.float32).reshape(int(cam_h), int(cam_w)).copy()
    size = (int(width), int(height)) if width is not None and height is not None else None
    return CachedScore(str(sha), float("nan") if p is None else float(p), str(prediction), bool(borderline),
                       tuple(json.loads(reasons)), tuple(json.loads(warnings)), tuple(json.loads(notes)), size,
                       heat, float(t))
