"""The agreement log: an append-only SQLite record of what the radiologist decided about each scored film.

Durability comes first: the GUI shows "saved" only once `AgreementLog.record` has returned, so every
decision is its own committed transaction (WAL, ``synchronous=FULL``). Several app instances may share one
log; SQLite's locking plus a busy timeout serialises their writes. A changed mind is a new row; the
latest row per (film sha256, reviewer) is the one that counts, so nothing a reviewer once said is ever lost.

The log never destroys what it cannot understand: an unreadable, damaged or foreign file raises `LogError`
and is left byte-for-byte as it was (no auto-recreate).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import platformdirs

from xrayviewer import __version__
from xrayviewer.common.text import path_text
from xrayviewer.common.vocab import LABELS, Label, LabelText

NORMAL = Label.NORMAL
PNEUMONIA = Label.PNEUMONIA

SCHEMA_VERSION = 4
OUT_OF_SCOPE = "OUT_OF_SCOPE"  # model_call of a film the scope gate refused (the reader labelled it alone)
SCOPES = ("in", "out")
NON_DIAGNOSTIC, RECALL = "NON_DIAGNOSTIC", "RECALL"
UNREADABLE_CALLS = (NON_DIAGNOSTIC, RECALL)  # what a reader can decide about a film nobody could read
DEFAULT_TIMEOUT_S = 10.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SHA256 = re.compile(r"[0-9a-f]{64}")

ErrorReason = Literal["readonly", "corrupt", "locked", "full", "missing", "cantopen", "io", "closed", "error"]


class ReviewError(Exception):
    """Base of the review core's user-facing errors: the message is meant to be shown as is."""


class LogError(ReviewError):
    """The agreement log cannot be opened, read or written; `reason` lets the GUI react to the cause."""

    def __init__(self, message: str, *, path: Path | None = None, reason: ErrorReason = "error") -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


def default_log_path() -> Path:
    """Per-user log location, outside the install so upgrades and reinstalls never touch it."""
    return Path(platformdirs.user_data_dir("xrayviewer")) / "agreement-log.sqlite3"


@dataclass(frozen=True)
class Decision:
    """One radiologist decision on one film, with the model output it was made against.

    The model output travels with the decision because model, threshold and app all change over time:
    agreement must be judged against what the reviewer actually saw.

    A film the scope gate refused (``scope="out"``) had no model call: ``model_call`` is OUT_OF_SCOPE,
    ``probability`` None, and the decision is the reader's label alone (never counted as agreement).
    """

    sha256: str  # of the film file: identifies the film even if it is moved or renamed
    path: str  # film path as given (for people; not used for identity)
    study: str  # study folder as given; filters on it compare strings exactly
    model_id: str
    probability: float | None  # model's pneumonia probability (None: out of scope, no call)
    model_call: str  # model's label at `threshold`, or OUT_OF_SCOPE
    threshold: float
    reviewer: str
    decision: LabelText  # the radiologist's label
    note: str = ""
    scope: str = "in"  # the scope gate's verdict: "in" or "out"
    scope_reason: str = ""  # why it was out of scope, in words

    def __post_init__(self) -> None:
        # Accept Path objects for convenience, store text: the log keeps what it was given.
        object.__setattr__(self, "path", path_text(self.path))
        object.__setattr__(self, "study", path_text(self.study))
        object.__setattr__(self, "sha256", str(self.sha256).lower())
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 must be 64 hex digits, got {self.sha256!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        object.__setattr__(self, "scope_reason", str(self.scope_reason))
        if self.scope == "out":  # no model call was made: the reader's label stands alone
            if self.model_call != OUT_OF_SCOPE or self.probability is not None:
                raise ValueError("an out-of-scope decision has model_call OUT_OF_SCOPE and no probability")
        elif self.probability is None or self.model_call == OUT_OF_SCOPE:
            raise ValueError("an in-scope decision needs the model's probability and call")
        # Models hand out numpy scalars (float32); store plain floats so rows compare equal once read back.
        for name in ("probability", "threshold"):
            value = getattr(self, name)
            if value is None and name == "probability":
                continue
            if isinstance(value, (str, bytes)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability!r}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")
        for name in ("model_call", "decision"):
            allowed = (*LABELS, OUT_OF_SCOPE) if name == "model_call" else LABELS
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
            object.__setattr__(self, name, str(getattr(self, name)))  # a Label member -> its plain text
        if not self.reviewer.strip():
            raise ValueError("reviewer must not be empty")
        if not self.model_id.strip():
            raise ValueError("model_id must not be empty")

    @property
    def agrees(self) -> bool:
        return self.decision == self.model_call


@dataclass(frozen=True)
class LoggedDecision:
    """A decision as stored: `id` orders decisions (commit order across processes, unlike wall clocks)."""

    id: int
    sha256: str
    path: str
    study: str
    model_id: str
    probability: float | None  # None: out of scope, the model made no call
    model_call: str  # NORMAL, PNEUMONIA or OUT_OF_SCOPE
    threshold: float
    reviewer: str
    decision: LabelText
    agrees: bool
    note: str
    decided_at_utc: str  # ISO-8601, e.g. 2024-05-01T09:30:12.345Z
    app_version: str
    scope: str = "in"  # "in" or "out" (logs before schema 3 hold in-scope decisions only)
    scope_reason: str = ""

    @property
    def in_scope(self) -> bool:
        return self.scope == "in"

    @property
    def decided_at(self) -> datetime:
        return datetime.fromisoformat(self.decided_at_utc.replace("Z", "+00:00"))


_COLUMNS = tuple(f.name for f in fields(LoggedDecision))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM decisions"
_SELECT_V2 = _SELECT.replace("scope, scope_reason", "'in' AS scope, '' AS scope_reason")
_INSERT = f"INSERT INTO decisions ({', '.join(_COLUMNS[1:])}) VALUES ({', '.join('?' * (len(_COLUMNS) - 1))})"

def _append_only(table: str) -> tuple[str, str]:
    """Triggers that make `table` append-only in the database itself, not only through this module's API."""
    abort = "BEGIN SELECT RAISE(ABORT, 'the agreement log is append-only'); END"
    return (f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} {abort}",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} {abort}")


# Schema migrations: _MIGRATIONS[v] brings a log at user_version v to v + 1 (run inside one transaction).
_CREATE_V1 = (
    """
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        path TEXT NOT NULL,
        study TEXT NOT NULL,
        model_id TEXT NOT NULL,
        probability REAL NOT NULL CHECK (probability BETWEEN 0 AND 1),
        model_call TEXT NOT NULL CHECK (model_call IN ('NORMAL', 'PNEUMONIA')),
        threshold REAL NOT NULL,
        reviewer TEXT NOT NULL CHECK (length(reviewer) > 0),
        decision TEXT NOT NULL CHECK (decision IN ('NORMAL', 'PNEUMONIA')),
        agrees INTEGER NOT NULL CHECK (agrees IN (0, 1)),
        note TEXT NOT NULL DEFAULT '',
        decided_at_utc TEXT NOT NULL,
        app_version TEXT NOT NULL
    )
    """,
    "CREATE INDEX decisions_film_reviewer ON decisions (sha256, reviewer, id)",
    "CREATE INDEX decisions_study ON decisions (study, id)",
    # Append-only is enforced by the database itself, not only by this module's API.
    *_append_only("decisions"),
)
# v2: site operating thresholds a reader accepted (or reverted) for a model, append-only like decisions.
_CREATE_V2 = (
    """
    CREATE TABLE site_thresholds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'revert')),
        threshold REAL CHECK (threshold IS NULL OR threshold BETWEEN 0 AND 1),
        reviewer TEXT NOT NULL CHECK (length(reviewer) > 0),
        figures TEXT NOT NULL DEFAULT '{}',
        at_utc TEXT NOT NULL,
        app_version TEXT NOT NULL
    )
    """,
    "CREATE INDEX site_thresholds_model ON site_thresholds (model_id, id)",
    *_append_only("site_thresholds"),
)
# v3: the scope gate. A refused film has no model call, yet the reader may still label it: probability may be
# NULL and model_call OUT_OF_SCOPE, but only on rows whose scope is 'out'. CHECK constraints cannot be
# altered in place, so the table is rebuilt (rows, ids and the id sequence kept; DROP TABLE fires no
# delete trigger) and its indexes and append-only triggers are made again.
_CREATE_V3 = (
    """
    CREATE TABLE decisions_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        path TEXT NOT NULL,
        study TEXT NOT NULL,
        model_id TEXT NOT NULL,
        probability REAL CHECK (probability IS NULL OR probability BETWEEN 0 AND 1),
        model_call TEXT NOT NULL CHECK (model_call IN ('NORMAL', 'PNEUMONIA', 'OUT_OF_SCOPE')),
        threshold REAL NOT NULL,
        reviewer TEXT NOT NULL CHECK (length(reviewer) > 0),
        decision TEXT NOT NULL CHECK (decision IN ('NORMAL', 'PNEUMONIA')),
        agrees INTEGER NOT NULL CHECK (agrees IN (0, 1)),
        note TEXT NOT NULL DEFAULT '',
        decided_at_utc TEXT NOT NULL,
        app_version TEXT NOT NULL,
        scope TEXT NOT NULL DEFAULT 'in' CHECK (scope IN ('in', 'out')),
        scope_reason TEXT NOT NULL DEFAULT '',
        CHECK ((scope = 'out') = (model_call = 'OUT_OF_SCOPE')),
        CHECK ((scope = 'out') = (probability IS NULL))
    )
    """,
    """
    INSERT INTO decisions_v3 (id, sha256, path, study, model_id, probability, model_call, threshold, reviewer,
                              decision, agrees, note, decided_at_utc, app_version)
    SELECT id, sha256, path, study, model_id, probability, model_call, threshold, reviewer, decision, agrees,
           note, decided_at_utc, app_version FROM decisions ORDER BY id
    """,
    "DROP TABLE decisions",
    "ALTER TABLE decisions_v3 RENAME TO decisions",
    *_CREATE_V1[1:],  # the indexes and the append-only triggers, as v1 made them
)
# v4: a reader's decision on a film that cannot be read (no model output to agree with): non-diagnostic, or
# recall the patient for a new film. Keyed by study and path (an unreadable file may have no hash).
_CREATE_V4 = (
    """
    CREATE TABLE unreadable_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sha256 TEXT NOT NULL DEFAULT '' CHECK (sha256 = '' OR length(sha256) = 64),
        path TEXT NOT NULL,
        study TEXT NOT NULL,
        reviewer TEXT NOT NULL CHECK (length(reviewer) > 0),
        decision TEXT NOT NULL CHECK (decision IN ('NON_DIAGNOSTIC', 'RECALL')),
        error TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        decided_at_utc TEXT NOT NULL,
        app_version TEXT NOT NULL
    )
    """,
    "CREATE INDEX unreadable_decisions_film ON unreadable_decisions (study, path, reviewer, id)",
    *_append_only("unreadable_decisions"),
)
_MIGRATIONS: dict[int, tuple[str, ...]] = {0: _CREATE_V1, 1: _CREATE_V2, 2: _CREATE_V3, 3: _CREATE_V4}


@dataclass(frozen=True)
class UnreadableDecision:
    """A reader's decision on a film that could not be read: NON_DIAGNOSTIC or RECALL (a new film needed)."""

    path: str
    study: str
    reviewer: str
    decision: str  # one of UNREADABLE_CALLS
    sha256: str = ""  # '' when not even the file's bytes could be read
    error: str = ""  # why it could not be read
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("path", "study"):
            object.__setattr__(self, name, path_text(getattr(self, name)))
        object.__setattr__(self, "sha256", str(self.sha256).lower())
        if self.sha256 and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 must be 64 hex digits or empty, got {self.sha256!r}")
        if self.decision not in UNREADABLE_CALLS:
            raise ValueError(f"decision must be one of {UNREADABLE_CALLS}, got {self.decision!r}")
        object.__setattr__(self, "decision", str(self.decision))
        if not self.reviewer.strip():
            raise ValueError("reviewer must not be empty")


@dataclass(frozen=True)
class LoggedUnreadable:
    id: int
    sha256: str
    path: str
    study: str
    reviewer: str
    decision: str
    error: str
    note: str
    decided_at_utc: str
    app_version: str


_UR_COLUMNS = tuple(f.name for f in fields(LoggedUnreadable))


@dataclass(frozen=True)
class SiteThresholdEntry:
    """One accept or revert of a site operating threshold; the latest entry for a model decides."""

    id: int
    model_id: str
    action: Literal["accept", "revert"]
    threshold: float | None  # None for a revert
    reviewer: str
    figures: str  # JSON: the evidence shown when it was accepted (films, sensitivity, specificity...)
    at_utc: str
    app_version: str


_ST_COLUMNS = tuple(f.name for f in fields(SiteThresholdEntry))


def _logged(row: tuple[object, ...]) -> LoggedDecision:
    """Build a LoggedDecision from values in `_COLUMNS` order (SQLite stores `agrees` as 0/1)."""
    values = dict(zip(_COLUMNS, row, strict=True))
    values["agrees"] = bool(values["agrees"])
    return LoggedDecision(**values)  # type: ignore[arg-type]


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _classify(exc: sqlite3.Error) -> ErrorReason:
    """Map an SQLite error to a reason; error names exist from Python 3.11, messages are the fallback."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    msg = str(exc).lower()
    if name.startswith("SQLITE_FULL") or "disk is full" in msg:
        return "full"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "is locked" in msg:
        return "locked"
    if name.startswith("SQLITE_READONLY") or "readonly database" in msg:
        return "readonly"
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in msg or "malformed" in msg:
        return "corrupt"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in msg:
        return "cantopen"
    if name.startswith("SQLITE_IOERR") or "i/o error" in msg:
        return "io"
    return "error"


@contextlib.contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE (take the write lock now) ... COMMIT; roll back on any failure, even Ctrl-C."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


class AgreementLog:
    """Open (or create) an agreement log.

    ``readonly=True`` opens for reading only (stats, export). A log whose file or folder is not writable is
    opened read-only automatically: reading works and `record` raises `LogError` saying so, so the GUI can
    show past decisions and explain why it cannot save new ones. `timeout` is how long to wait for another
    instance holding the write lock before giving up with `LogError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()  # one connection shared by threads: serialise its use
        self._conn: sqlite3.Connection | None = None
        self._check_file()
        self.readonly = readonly or (self.path.exists() and not self._writable())
        if not self.readonly:
            try:
                self._conn = self._open_readwrite()
            except LogError as e:
                if e.reason != "readonly" or not self.path.exists():
                    raise
                self.readonly = True  # e.g. a read-only mount that os.access did not reveal
        if self.readonly:
            self._conn = self._open_readonly()

    # -- opening -----------------------------------------------------------------------------------------

    def _fail(self, message: str, reason: ErrorReason) -> LogError:
        return LogError(message, path=self.path, reason=reason)

    def _error(self, exc: sqlite3.Error, consequence: str) -> LogError:
        """A user-facing LogError for an SQLite failure; `consequence` says what did not happen."""
        reason = _classify(exc)
        p = self.path
        message = {
            "full": f"the disk holding the agreement log is full: {p}; {consequence}. Free space and retry.",
            "locked": f"the agreement log is locked by another program (waited {self.timeout:g} s): {p}; "
                      f"{consequence}. Close other xrayviewer windows using it, then retry.",
            "readonly": f"the agreement log is read-only: {p}; {consequence}.",
            "corrupt": f"the agreement log is damaged or is not an agreement log: {p} ({exc}); "
                       f"{consequence}. The file was left untouched; move it aside to start a new log.",
            "cantopen": f"cannot open the agreement log: {p} ({exc}); {consequence}.",
            "io": f"input/output error on the agreement log: {p} ({exc}); {consequence}.",
        }.get(reason, f"agreement log error: {p} ({exc}); {consequence}.")
        return self._fail(message, reason)

    def _check_file(self) -> None:
        """Refuse non-SQLite files before SQLite touches them, so they can never be modified."""
        if self.path.is_dir():
            raise self._fail(f"the agreement log path is a folder, not a file: {self.path}", "cantopen")
        try:
            with self.path.open("rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return
        except OSError as e:
            raise self._fail(f"cannot read the agreement log: {self.path} ({e.strerror})", "cantopen") from e
        if head and head != _SQLITE_MAGIC:
            raise self._fail(
                f"the agreement log is damaged or is not an agreement log: {self.path} "
                "(file is not a database). The file was left untouched; move it aside to start a new log.",
                "corrupt",
            )

    def _writable(self) -> bool:
        # WAL writers also create -wal/-shm files next to the log, hence the folder check.
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    def _connect(self, target: str, *, uri: bool = False) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each decision is exactly one transaction.
        return sqlite3.connect(target, uri=uri, timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL, retrying while another instance holds the lock.

        Switching the journal mode needs an exclusive lock and SQLite may answer "database is locked" at
        once, without its busy handler, when two instances open a new log at the same moment.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as e:
                if "locked" not in str(e).lower() or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _open_readwrite(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._fail(f"cannot create the folder for the agreement log: {self.path.parent} "
                             f"({e.strerror})", "cantopen") from e
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect(os.fspath(self.path))
            # Read before any write: a foreign or newer file is rejected without being modified.
            version = self._check_version(conn, writable=True)
            mode = self._enable_wal(conn)
            if str(mode).lower() != "wal":
                raise self._fail(f"cannot use write-ahead logging for the agreement log: {self.path} "
                                 f"(journal mode {mode}); is it on a network drive?", "io")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA fullfsync=ON")  # macOS: flush the drive cache too; ignored elsewhere
            conn.execute("PRAGMA checkpoint_fullfsync=ON")
            if version < SCHEMA_VERSION:
                self._migrate(conn)
            return conn
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise self._error(e, "it could not be opened") from e
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise self._fail(f"there is no agreement log at {self.path}", "missing")
        base = self.path.resolve().as_uri() + "?mode=ro"
        # A WAL log in a folder we cannot write lacks its shared-memory file when no writer has it open;
        # SQLite then needs immutable=1 to read it (a snapshot, as nobody else can be writing there).
        for uri in (base, base + "&immutable=1"):
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connect(uri, uri=True)
                self._check_version(conn, writable=False)
                return conn
            except sqlite3.Error as e:
                if conn is not None:
                    conn.close()
                if _classify(e) not in ("readonly", "cantopen") or uri.endswith("immutable=1"):
                    raise self._error(e, "it could not be opened") from e
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
        raise AssertionError("unreachable")

    def _check_version(self, conn: sqlite3.Connection, *, writable: bool) -> int:
        # One statement, so one snapshot: read separately, another instance creating the schema in
        # between would make a fresh log look like a foreign SQLite file (version 0 but tables present).
        version, tables = conn.execute(
            "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        version = int(version)
        if version > SCHEMA_VERSION:
            raise self._fail(f"the agreement log was written by a newer xrayviewer (schema {version}, this "
                             f"version reads up to {SCHEMA_VERSION}): {self.path}; please upgrade.", "error")
        if version == 0 and tables:
            raise self._fail(f"this SQLite file is not an agreement log: {self.path}. It was left untouched.",
                             "corrupt")
        if not writable and version == 0:
            raise self._fail(f"the agreement log is empty and cannot be created read-only: {self.path}",
                             "readonly")
        self._version = version  # read-only: an older log is read as it is (features it lacks read empty)
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with _write_transaction(conn):
            # Re-read under the write lock: another instance may have created the schema meanwhile.
            version = self._check_version(conn, writable=True)
            for v in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[v]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._version = SCHEMA_VERSION

    # -- use ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _using(self, consequence: str) -> Iterator[sqlite3.Connection]:
        if self._conn is None:
            raise self._fail(f"the agreement log is closed: {self.path}", "closed")
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as e:
                raise self._error(e, consequence) from e

    def record(self, d: Decision) -> LoggedDecision:
        """Append `d` as one committed transaction; when this returns the decision is on disk."""
        if self.readonly:
            raise self._fail(f"the agreement log is read-only: {self.path}; the decision was NOT saved.",
                             "readonly")
        with self._using("the decision was NOT saved") as conn, _write_transaction(conn):
            at = _utc_now()  # taken under the write lock, so time order matches id order
            values = (d.sha256, d.path, d.study, d.model_id, d.probability, d.model_call, d.threshold,
                      d.reviewer, d.decision, int(d.agrees), d.note, at, __version__, d.scope, d.scope_reason)
            cur = conn.execute(_INSERT, values)
        assert cur.lastrowid is not None
        return _logged((cur.lastrowid, *values))

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[LoggedDecision]:
        if getattr(self, "_version", SCHEMA_VERSION) < 3:  # an older log opened read-only: all in scope
            sql = sql.replace(_SELECT, _SELECT_V2, 1)
        with self._using("it could not be read") as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_logged(r) for r in rows]

    def latest(self, reviewer: str | None = None, study: str | None = None) -> list[LoggedDecision]:
        """The decision that counts for each (film, reviewer): the latest row, oldest decision first.

        With `study`, only rows logged under that study are considered (exact string match).
        """
        where, params = [], []
        if reviewer is not None:
            where.append("reviewer = ?")
            params.append(reviewer)
        if study is not None:
            where.append("study = ?")
            params.append(study)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (f"{_SELECT} WHERE id IN (SELECT max(id) FROM decisions {cond} GROUP BY sha256, reviewer) "
               "ORDER BY id")
        return self._query(sql, tuple(params))

    def current(self, sha256: str, reviewer: str) -> LoggedDecision | None:
        """The decision that counts for this film and reviewer, or None if not reviewed yet."""
        rows = self._query(f"{_SELECT} WHERE sha256 = ? AND reviewer = ? ORDER BY id DESC LIMIT 1",
                           (sha256.lower(), reviewer))
        return rows[0] if rows else None

    def history(self, sha256: str) -> list[LoggedDecision]:
        """Every decision ever logged for a film, all reviewers, oldest first."""
        return self._query(f"{_SELECT} WHERE sha256 = ? ORDER BY id", (sha256.lower(),))

    def reviewers(self) -> list[str]:
        with self._using("it could not be read") as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT reviewer FROM decisions ORDER BY reviewer")]

    def record_unreadable(self, d: UnreadableDecision) -> LoggedUnreadable:
        """Append a decision on an unreadable film as one committed transaction."""
        if self.readonly:
            raise self._fail(f"the agreement log is read-only: {self.path}; the decision was NOT saved.",
                             "readonly")
        with self._using("the decision was NOT saved") as conn, _write_transaction(conn):
            row = (d.sha256, d.path, d.study, d.reviewer, d.decision, d.error, d.note, _utc_now(), __version__)
            cur = conn.execute(f"INSERT INTO unreadable_decisions ({', '.join(_UR_COLUMNS[1:])}) VALUES "
                               f"({', '.join('?' * (len(_UR_COLUMNS) - 1))})", row)
        assert cur.lastrowid is not None
        return LoggedUnreadable(cur.lastrowid, *row)

    def latest_unreadable(self, reviewer: str | None = None, study: str | None = None) -> list[LoggedUnreadable]:
        """The decision that counts per (study, film path, reviewer) on unreadable films, oldest first."""
        if getattr(self, "_version", SCHEMA_VERSION) < 4:  # an older log opened read-only has none
            return []
        where, params = [], []
        for column, value in (("reviewer", reviewer), ("study", study)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (f"SELECT {', '.join(_UR_COLUMNS)} FROM unreadable_decisions WHERE id IN (SELECT max(id) FROM "
               f"unreadable_decisions {cond} GROUP BY study, path, reviewer) ORDER BY id")
        with self._using("it could not be read") as conn:
            rows = conn.execute(sql, tuple(params)).fetchall()
        return [LoggedUnreadable(*r) for r in rows]

    def record_site_threshold(self, model_id: str, action: Literal["accept", "revert"], threshold: float | None,
                              reviewer: str, figures: str = "{}") -> SiteThresholdEntry:
        """Append an accept (with its threshold and evidence) or a revert, as one committed transaction."""
        if action not in ("accept", "revert"):
            raise ValueError(f"action must be accept or revert, got {action!r}")
        if action == "accept" and (threshold is None or not 0.0 < float(threshold) < 1.0):
            raise ValueError(f"a site threshold must be within (0, 1), got {threshold!r}")
        if not reviewer.strip() or not model_id.strip():
            raise ValueError("reviewer and model id must not be empty")
        if self.readonly:
            raise self._fail(f"the agreement log is read-only: {self.path}; the site threshold was NOT saved.",
                             "readonly")
        value = None if action == "revert" else float(threshold)  # type: ignore[arg-type]
        with self._using("the site threshold was NOT saved") as conn, _write_transaction(conn):
            at = _utc_now()
            row = (model_id, action, value, reviewer, figures, at, __version__)
            cur = conn.execute(f"INSERT INTO site_thresholds ({', '.join(_ST_COLUMNS[1:])}) VALUES "
                               f"({', '.join('?' * (len(_ST_COLUMNS) - 1))})", row)
        assert cur.lastrowid is not None
        return SiteThresholdEntry(cur.lastrowid, *row)

    def site_threshold_history(self, model_id: str | None = None) -> list[SiteThresholdEntry]:
        """Every accept and revert, oldest first (for one model, or all)."""
        if getattr(self, "_version", SCHEMA_VERSION) < 2:
            return []
        where, params = ("WHERE model_id = ?", (model_id,)) if model_id is not None else ("", ())
        with self._using("it could not be read") as conn:
            rows = conn.execute(f"SELECT {', '.join(_ST_COLUMNS)} FROM site_thresholds {where} ORDER BY id",
                                params).fetchall()
        return [SiteThresholdEntry(*r) for r in rows]

    def site_threshold(self, model_id: str) -> SiteThresholdEntry | None:
        """The accepted site threshold in force for this model, or None (never set, or reverted)."""
        history = self.site_threshold_history(model_id)
        return history[-1] if history and history[-1].action == "accept" else None

    def count(self) -> int:
        """Number of rows (every decision, changed minds included)."""
        with self._using("it could not be read") as conn:
            return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> AgreementLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AgreementLog({str(self.path)!r}{', readonly=True' if self.readonly else ''})"
