"""Agreement log: durability, append-only semantics, sharing between instances and processes, and failures."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import xrayviewer
from xrayviewer.review import (
    NORMAL,
    PNEUMONIA,
    AgreementLog,
    Decision,
    LogError,
    LoggedDecision,
    default_log_path,
)

MakeDecision = Callable[..., Decision]
StartChild = Callable[..., subprocess.Popen[str]]

# A second app instance: opens the log, says "ready", waits for the start file, records n decisions (pausing
# between them so that two writers interleave) and prints each row id once record() has returned.
WRITER = r"""
import hashlib, pathlib, sys, time
from xrayviewer.review import AgreementLog, Decision
path, tag, n, start, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
log = AgreementLog(path)
print("ready", flush=True)
while start and not pathlib.Path(start).exists():
    time.sleep(0.002)
for i in range(n):
    sha = hashlib.sha256(f"{tag}-{i}".encode()).hexdigest()
    row = log.record(Decision(sha, f"/s/{tag}-{i}.png", "/s", "m", 0.3, "NORMAL", 0.5, "dr." + tag, "NORMAL",
                              note=f"{tag}-{i}"))
    print(row.id, flush=True)
    time.sleep(pause)
log.close()
"""

# Another program holding the write lock until its stdin is closed.
LOCKER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def sidecars(path: Path) -> list[Path]:
    return [p for p in (Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal")) if p.exists()]


# -- basics ------------------------------------------------------------------------------------------------


def test_default_log_path_is_per_user_data_dir() -> None:
    import platformdirs

    assert default_log_path() == Path(platformdirs.user_data_dir("xrayviewer")) / "agreement-log.sqlite3"


def test_record_returns_committed_row_and_survives_reopen(
    log_path: Path, make_decision: MakeDecision
) -> None:
    d = make_decision(1, decision=NORMAL, note="retrocardiac? no — artefact, «ok»")
    with AgreementLog(log_path) as log:
        row = log.record(d)
    assert row.id >= 1
    assert (row.sha256, row.path, row.study, row.model_id) == (d.sha256, d.path, d.study, d.model_id)
    assert (row.probability, row.model_call, row.threshold) == (0.8, PNEUMONIA, 0.5)
    assert (row.reviewer, row.decision, row.agrees, row.note) == ("dr.a", NORMAL, False, d.note)
    assert row.app_version == xrayviewer.__version__
    assert row.decided_at_utc.endswith("Z") and row.decided_at.utcoffset().total_seconds() == 0
    assert abs(time.time() - row.decided_at.timestamp()) < 60

    with AgreementLog(log_path) as again:
        assert again.history(d.sha256) == [row]
        assert again.latest() == [row]
        assert again.count() == 1


def test_wal_and_full_sync_are_on(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as log:
        log.record(make_decision())
        assert log._conn is not None
        assert log._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert log._conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    raw = sqlite3.connect(log_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    finally:
        raw.close()


def test_changed_mind_latest_per_film_and_reviewer(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as log:
        first = log.record(make_decision(1, decision=PNEUMONIA))
        other = log.record(make_decision(1, reviewer="dr.b", decision=PNEUMONIA))
        changed = log.record(make_decision(1, decision=NORMAL, note="changed my mind"))
        film2 = log.record(make_decision(2, study="/studies/s2", path="/studies/s2/film-2.png"))

        assert log.latest() == [other, changed, film2]
        assert log.latest(reviewer="dr.a") == [changed, film2]
        assert log.latest(study="/studies/s1") == [other, changed]
        assert log.latest(reviewer="dr.b", study="/studies/s2") == []
        assert log.current(first.sha256, "dr.a") == changed
        assert log.current(first.sha256.upper(), "dr.b") == other
        assert log.current(first.sha256, "dr.c") is None
        assert log.history(first.sha256) == [first, other, changed]
        assert log.reviewers() == ["dr.a", "dr.b"]
        assert log.count() == 4
        assert not changed.agrees and first.agrees


def test_log_is_append_only_in_the_database_itself(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as log:
        log.record(make_decision())
    raw = sqlite3.connect(log_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("UPDATE decisions SET decision = 'NORMAL'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("DELETE FROM decisions")
    finally:
        raw.close()


@pytest.mark.parametrize(
    "bad",
    [dict(sha256="abc"), dict(probability=1.5), dict(probability=float("nan")), dict(decision="maybe"),
     dict(model_call="normal"), dict(reviewer="  "), dict(threshold=float("inf")), dict(probability="0.5")],
)
def test_invalid_decisions_are_rejected(make_decision: MakeDecision, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_decision(**bad)


def test_numpy_scores_are_accepted(log_path: Path, make_decision: MakeDecision) -> None:
    import numpy as np

    d = make_decision(probability=np.float32(0.25), threshold=np.float64(0.5), model_call=NORMAL)
    assert type(d.probability) is float and d.probability == 0.25
    with AgreementLog(log_path) as log:
        row = log.record(d)
        assert log.latest() == [row]


def test_paths_are_stored_as_given(log_path: Path, make_decision: MakeDecision) -> None:
    weird = Path("/studies/s1") / "caf\udce9.png"  # undecodable file-name byte (surrogate escape)
    with AgreementLog(log_path) as log:
        row = log.record(make_decision(path=weird, study=Path("/studies/s1")))
    assert row.study == "/studies/s1"
    assert row.path == "/studies/s1/caf\\xe9.png"


# -- sharing -------------------------------------------------------------------------------------------------


def test_two_instances_share_one_log(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as a, AgreementLog(log_path) as b:
        rows = []
        for i in range(10):
            rows.append((a if i % 2 else b).record(make_decision(i, reviewer="dr.a" if i % 2 else "dr.b")))
        assert [r.id for r in rows] == sorted({r.id for r in rows})
        assert a.latest() == b.latest() == rows


def test_recording_from_threads(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as log:
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(10):
                    log.record(make_decision(f"{t}-{i}"))
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert log.count() == 40


def test_two_processes_writing_concurrently_lose_nothing(log_path: Path, start_child: StartChild) -> None:
    # The log does not exist yet: both processes also race to create it.
    go = log_path.parent / "go"
    kids = [start_child(WRITER, str(log_path), tag, "50", str(go), "0.002") for tag in ("p1", "p2")]
    for kid in kids:
        assert kid.stdout is not None
        assert kid.stdout.readline().strip() == "ready", kid.stderr.read() if kid.stderr else ""
    go.touch()
    printed: dict[str, list[int]] = {}
    for tag, kid in zip(("p1", "p2"), kids, strict=True):
        out, err = kid.communicate(timeout=60)
        assert kid.returncode == 0, err
        printed[tag] = [int(x) for x in out.split()]

    with AgreementLog(log_path) as log:
        assert log.count() == 100
        rows = log.latest()
    assert len(rows) == 100
    assert sorted(r.id for r in rows) == sorted(printed["p1"] + printed["p2"])
    for tag in ("p1", "p2"):
        mine = [r for r in rows if r.reviewer == f"dr.{tag}"]
        assert [r.note for r in mine] == [f"{tag}-{i}" for i in range(50)]
        assert [r.id for r in mine] == printed[tag]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_process_loses_no_returned_decision(log_path: Path, start_child: StartChild) -> None:
    kid = start_child(WRITER, str(log_path), "k", "100000", "", "0")
    assert kid.stdout is not None
    assert kid.stdout.readline().strip() == "ready"
    for _ in range(20):  # let it get well into recording
        assert kid.stdout.readline().strip().isdigit()
    os.kill(kid.pid, signal.SIGKILL)
    rest, _ = kid.communicate(timeout=10)
    assert kid.returncode == -signal.SIGKILL
    # Every id printed was printed after record() returned; a torn last line is ignored.
    returned = [int(x) for x in rest.split("\n")[:-1] if x]
    with AgreementLog(log_path) as log:
        ids = {r.id for r in log.latest()}
        assert log.count() >= 20 + len(returned)
    assert set(returned) <= ids
    assert max(ids) >= 20


# -- failures: locked, read-only, damaged, full -----------------------------------------------------------


def test_locked_by_another_process_gives_up_with_log_error(
    log_path: Path, make_decision: MakeDecision, start_child: StartChild
) -> None:
    with AgreementLog(log_path) as log:
        saved = log.record(make_decision(1))
    locker = start_child(LOCKER, str(log_path), stdin=subprocess.PIPE)
    assert locker.stdout is not None and locker.stdin is not None
    assert locker.stdout.readline().strip() == "locked"

    with AgreementLog(log_path, timeout=0.2) as log:
        assert log.latest() == [saved]  # WAL: reading is not blocked by a writer
        with pytest.raises(LogError) as info:
            log.record(make_decision(2))
        assert info.value.reason == "locked"
        assert "locked by another program" in str(info.value) and "NOT saved" in str(info.value)
        assert str(log_path) in str(info.value)

        locker.stdin.close()
        locker.wait(timeout=10)
        log.record(make_decision(2))  # works again once the other program lets go
        assert log.count() == 2


def _assert_reads_but_refuses_to_record(
    log: AgreementLog, expected: list[LoggedDecision], make_decision: MakeDecision
) -> None:
    assert log.readonly
    assert log.latest() == expected
    with pytest.raises(LogError, match=r"the agreement log is read-only: .*NOT saved") as info:
        log.record(make_decision(9))
    assert info.value.reason == "readonly"
    assert str(log.path) in str(info.value)


def test_readonly_open_reads_and_refuses_to_record(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as log:
        rows = [log.record(make_decision(i)) for i in range(3)]
    before = log_path.read_bytes()
    with AgreementLog(log_path, readonly=True) as ro:
        _assert_reads_but_refuses_to_record(ro, rows, make_decision)
    assert log_path.read_bytes() == before


def test_readonly_open_of_missing_log_does_not_create_it(log_path: Path) -> None:
    with pytest.raises(LogError, match="no agreement log") as info:
        AgreementLog(log_path, readonly=True)
    assert info.value.reason == "missing"
    assert not log_path.exists() and not log_path.parent.exists()


def test_unwritable_log_opens_read_only(
    log_path: Path, make_decision: MakeDecision, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission checks are simulated (they do not bind root); the read-only connection is real."""
    with AgreementLog(log_path) as log:
        rows = [log.record(make_decision(i)) for i in range(2)]
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real_access(p, mode))
    with AgreementLog(log_path) as log:
        _assert_reads_but_refuses_to_record(log, rows, make_decision)


needs_non_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="file permissions do not bind root"
)


@needs_non_root
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_file_or_folder_opens_read_only(
    log_path: Path, make_decision: MakeDecision, what: str
) -> None:
    with AgreementLog(log_path) as log:
        rows = [log.record(make_decision(i)) for i in range(2)]
    target = log_path if what == "file" else log_path.parent
    mode = target.stat().st_mode
    target.chmod(0o444 if what == "file" else 0o555)
    try:
        with AgreementLog(log_path) as log:
            _assert_reads_but_refuses_to_record(log, rows, make_decision)
    finally:
        target.chmod(mode)


def test_corrupt_file_raises_and_is_left_untouched(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    garbage = random.Random(0).randbytes(8192)
    log_path.write_bytes(garbage)
    for readonly in (False, True):
        with pytest.raises(LogError, match="not a database") as info:
            AgreementLog(log_path, readonly=readonly)
        assert info.value.reason == "corrupt"
        assert str(log_path) in str(info.value) and "move it aside" in str(info.value)
    assert log_path.read_bytes() == garbage
    assert sidecars(log_path) == []


def test_damaged_log_raises_on_read_and_is_left_untouched(
    log_path: Path, make_decision: MakeDecision
) -> None:
    with AgreementLog(log_path) as log:
        for i in range(30):
            log.record(make_decision(i, note="x" * 2000))
    data = bytearray(log_path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page: len(data) - page] = random.Random(1).randbytes(len(data) - 3 * page)
    log_path.write_bytes(bytes(data))
    with pytest.raises(LogError) as info, AgreementLog(log_path) as log:  # raised on opening or on reading
        log.latest()
        log.history(make_decision(20).sha256)
    assert info.value.reason == "corrupt"
    assert log_path.read_bytes() == bytes(data)


def test_foreign_sqlite_file_is_not_taken_over(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(log_path)
    raw.execute("CREATE TABLE patients (name TEXT)")
    raw.commit()
    raw.close()
    before = log_path.read_bytes()
    with pytest.raises(LogError, match="not an agreement log"):
        AgreementLog(log_path)
    assert log_path.read_bytes() == before


def test_log_from_a_newer_version_is_refused(log_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(log_path) as log:
        log.record(make_decision())
        assert log._conn is not None
        log._conn.execute("PRAGMA user_version = 99")
    with pytest.raises(LogError, match="newer xrayviewer"):
        AgreementLog(log_path)


def test_empty_file_becomes_a_new_log(log_path: Path, make_decision: MakeDecision) -> None:
    log_path.parent.mkdir(parents=True)
    log_path.touch()
    with AgreementLog(log_path) as log:
        log.record(make_decision())
        assert log.count() == 1


def test_disk_full_raises_log_error_and_keeps_earlier_decisions(
    log_path: Path, make_decision: MakeDecision
) -> None:
    with AgreementLog(log_path) as log:
        kept = log.record(make_decision(1))
        assert log._conn is not None
        # Cap the database at its current size: SQLite then fails exactly as on a full disk (SQLITE_FULL).
        pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
        log._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(LogError, match="disk holding the agreement log is full") as info:
            log.record(make_decision(2, note="n" * 200_000))
        assert info.value.reason == "full" and "NOT saved" in str(info.value)
        assert log.latest() == [kept]  # the failed transaction was rolled back, the log still works
    with AgreementLog(log_path) as log:
        assert log.latest() == [kept]


def test_closed_log_raises_log_error(log_path: Path, make_decision: MakeDecision) -> None:
    log = AgreementLog(log_path)
    log.close()
    log.close()  # idempotent
    with pytest.raises(LogError, match="closed"):
        log.record(make_decision())


def test_log_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="folder"):
        AgreementLog(tmp_path)
