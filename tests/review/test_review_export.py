"""CSV export: content, filters, and atomicity when the target cannot be written."""

from __future__ import annotations

import csv
import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import xrayviewer.review.export as export_mod
from xrayviewer.review import (
    CSV_COLUMNS,
    NORMAL,
    PNEUMONIA,
    AgreementLog,
    Decision,
    ExportError,
    LogError,
    LoggedDecision,
    ReviewError,
    export_review_csv,
)

MakeDecision = Callable[..., Decision]
_REAL_CSV_WRITER = csv.writer


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def expected_row(d: LoggedDecision) -> list[str]:
    return [d.path, d.sha256, d.study, d.model_id, str(d.probability), d.model_call, str(d.threshold),
            d.reviewer, d.decision, "true" if d.agrees else "false",
            "'" + d.note if d.note.startswith("=") else d.note,  # CSV injection: a formula stays text
            d.decided_at_utc, d.app_version, d.scope, d.scope_reason]


@pytest.fixture
def filled_log(tmp_path: Path, make_decision: MakeDecision) -> tuple[Path, dict[str, LoggedDecision]]:
    """Two studies, two reviewers, one changed mind, awkward notes."""
    path = tmp_path / "log" / "agreement-log.sqlite3"
    s1 = dict(study="/s1")
    with AgreementLog(path) as log:
        rows = {
            "b1-old": log.record(make_decision("b1", path="/s1/b.png", decision=NORMAL, **s1)),
            "a1": log.record(make_decision("a1", path="/s1/a.png", probability=0.123456789,
                                           note='says "no", ok', **s1)),
            "b1": log.record(make_decision("b1", path="/s1/b.png", note="line 1\nline 2, ñ 肺炎", **s1)),
            "a1-b": log.record(make_decision("a1", path="/s1/a.png", probability=0.123456789,
                                             reviewer="dr.b", decision=NORMAL, **s1)),
            "c2": log.record(make_decision("c2", path="/s2/c.png", study="/s2", probability=0.2,
                                           model_call=NORMAL, decision=PNEUMONIA, note="=1+1")),
        }
    return path, rows


def test_export_writes_latest_decision_per_film_and_reviewer(
    filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path
) -> None:
    log_path, rows = filled_log
    out = tmp_path / "out.csv"
    assert export_review_csv(log_path, out) == 4
    assert read_csv(out) == [list(CSV_COLUMNS)] + [expected_row(rows[k]) for k in ("a1", "a1-b", "b1", "c2")]
    assert read_csv(out)[1][4] == "0.123456789"  # probability exact, not rounded
    assert out.read_bytes().startswith(b"path,sha256,study,model_id,pneumonia_probability,")


def test_export_filters_and_accepts_an_open_log(
    filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path
) -> None:
    log_path, rows = filled_log
    out = tmp_path / "out.csv"
    with AgreementLog(log_path) as log:
        assert export_review_csv(log, out, study="/s1", reviewer="dr.a") == 2
        assert read_csv(out)[1:] == [expected_row(rows["a1"]), expected_row(rows["b1"])]
        assert export_review_csv(log, out, reviewer="dr.b") == 1  # replaces the previous CSV
        assert read_csv(out)[1:] == [expected_row(rows["a1-b"])]
        assert export_review_csv(log, out, study="/none") == 0
        assert read_csv(out) == [list(CSV_COLUMNS)]
        assert log.count() == 5  # still open and usable


def test_export_of_missing_log_is_a_log_error(tmp_path: Path) -> None:
    with pytest.raises(LogError):
        export_review_csv(tmp_path / "missing.sqlite3", tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_export_to_missing_folder(filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path) -> None:
    log_path, _ = filled_log
    with pytest.raises(ExportError, match="folder does not exist") as info:
        export_review_csv(log_path, tmp_path / "nope" / "out.csv")
    assert isinstance(info.value, ReviewError)
    assert not (tmp_path / "nope").exists()


def test_export_onto_a_folder(filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path) -> None:
    log_path, _ = filled_log
    with pytest.raises(ExportError, match="is a folder"):
        export_review_csv(log_path, tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="permissions do not bind root")
def test_export_to_read_only_folder(
    filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path
) -> None:
    log_path, _ = filled_log
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ExportError, match="no permission"):
            export_review_csv(log_path, folder / "out.csv")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_export_permission_denied_simulated(
    filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same as the read-only folder case, but also runs as root: creating the temp file is refused."""
    log_path, _ = filled_log
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]))

    monkeypatch.setattr(export_mod.os, "open", refuse)
    with pytest.raises(ExportError, match="no permission to write"):
        export_review_csv(log_path, out_dir / "out.csv")
    assert list(out_dir.iterdir()) == []


class _FailingWriter:
    """csv.writer stand-in: the disk fills up after the header and one row."""

    def __init__(self, f: object) -> None:
        self._writer = _REAL_CSV_WRITER(f)  # type: ignore[arg-type]
        self._rows = 0

    def writerow(self, row: object) -> None:
        if self._rows >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._rows += 1
        self._writer.writerow(row)

    def writerows(self, rows: object) -> None:
        for r in rows:  # type: ignore[attr-defined]
            self.writerow(r)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_full_disk_leaves_no_partial_csv_and_log_untouched(
    filled_log: tuple[Path, dict[str, LoggedDecision]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    log_path, rows = filled_log
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "review.csv"
    out.write_text("previous export\n", encoding="utf-8")
    log_before = _snapshot(log_path.parent)

    if where == "write":
        monkeypatch.setattr(export_mod.csv, "writer", _FailingWriter)
    else:
        def no_space(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(export_mod.os, "fsync", no_space)

    with pytest.raises(ExportError, match="disk is full") as info:
        export_review_csv(log_path, out)
    assert str(out) in str(info.value)
    assert [p.name for p in out_dir.iterdir()] == ["review.csv"]  # no temp file left behind
    assert out.read_text(encoding="utf-8") == "previous export\n"  # the old CSV is intact
    assert _snapshot(log_path.parent)["agreement-log.sqlite3"] == log_before["agreement-log.sqlite3"]
    monkeypatch.undo()
    with AgreementLog(log_path) as log:
        assert log.count() == len(rows)
