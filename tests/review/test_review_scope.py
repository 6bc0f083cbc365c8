"""Out-of-scope films in the review core: the log (schema 3), the session, statistics and the export."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from tests.review.conftest import decision, film_sha
from xrayviewer.common.vocab import Label, Status
from xrayviewer.inference.scoring import FilmResult
from xrayviewer.review import CSV_COLUMNS, AgreementLog, compute_stats, export_review_csv, format_stats
from xrayviewer.review import log as logmod
from xrayviewer.review.session import Filter, ReviewSession, ReviewState
from xrayviewer.scope import OUT_OF_SCOPE, Scope

STUDY = Path("/studies/s1")
REASON = "modality MG (mammography)"


def out_decision(i: int | str = "o", **overrides: object):
    values: dict[str, object] = dict(probability=None, model_call=OUT_OF_SCOPE, scope="out", scope_reason=REASON,
                                     decision="NORMAL")
    values.update(overrides)
    return decision(i, **values)


def _v2_log(path: Path) -> None:
    """A log as schema 2 wrote it, with two decisions (ids 1 and 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in (*logmod._CREATE_V1, *logmod._CREATE_V2):
        conn.execute(statement)
    for i in range(2):
        conn.execute("INSERT INTO decisions (sha256, path, study, model_id, probability, model_call, threshold, "
                     "reviewer, decision, agrees, note, decided_at_utc, app_version) VALUES "
                     "(?, ?, '/s', 'm', 0.7, 'PNEUMONIA', 0.5, 'dr.a', 'PNEUMONIA', 1, '', '2024-01-01T00:00:00Z', "
                     "'0.0.1')", (film_sha(i), f"/s/{i}.png"))
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def test_a_schema_2_log_reads_as_in_scope_and_migrates_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "log" / "agreement-log.sqlite3"
    _v2_log(path)
    with AgreementLog(path, readonly=True) as old:  # read as it is: every decision was in scope
        assert [(d.id, d.scope, d.scope_reason) for d in old.latest()] == [(1, "in", ""), (2, "in", "")]
    with AgreementLog(path) as log:
        rows = log.latest()
        assert [(d.id, d.sha256, d.probability, d.scope) for d in rows] == [
            (1, film_sha(0), 0.7, "in"), (2, film_sha(1), 0.7, "in")]
        new = log.record(out_decision())
        assert new.id == 3 and new.probability is None and new.scope == "out" and not new.agrees
        assert log.history(film_sha("o"))[0].scope_reason == REASON
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == logmod.SCHEMA_VERSION == 4
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):  # the triggers came back with the table
        conn.execute("UPDATE decisions SET note = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM decisions")
    with pytest.raises(sqlite3.IntegrityError):  # in-scope rows still need a probability
        conn.execute("INSERT INTO decisions (sha256, path, study, model_id, probability, model_call, threshold, "
                     "reviewer, decision, agrees, note, decided_at_utc, app_version) VALUES "
                     f"('{film_sha(9)}', 'p', 's', 'm', NULL, 'NORMAL', 0.5, 'r', 'NORMAL', 1, '', 't', 'v')")
    conn.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"scope": "out", "model_call": "NORMAL", "probability": None},
        {"scope": "out", "model_call": OUT_OF_SCOPE, "probability": 0.3},
        {"scope": "in", "model_call": OUT_OF_SCOPE, "probability": None},
        {"scope": "in", "probability": None},
        {"scope": "maybe"},
    ],
)
def test_inconsistent_scope_decisions_are_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        decision("x", **overrides)


def test_statistics_count_in_scope_films_only(log_path: Path) -> None:
    with AgreementLog(log_path) as log:
        log.record(decision(1))  # agrees
        log.record(decision(2, model_call="NORMAL", probability=0.2))  # disagrees (says PNEUMONIA)
        log.record(out_decision(3, decision="PNEUMONIA"))
        stats = compute_stats(log.latest())
    assert stats.overall.n == 2 and stats.overall.n_agree == 1 and stats.out_of_scope == 1
    assert "1 labels on films the scope gate refused" in format_stats(stats)


def test_export_carries_the_scope(log_path: Path, tmp_path: Path) -> None:
    with AgreementLog(log_path) as log:
        log.record(decision(1))
        log.record(out_decision(2))
    out = tmp_path / "review.csv"
    assert export_review_csv(log_path, out) == 2
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert tuple(rows[0]) == CSV_COLUMNS and {"scope", "scope_reason"} <= set(CSV_COLUMNS)
    assert rows[0]["scope"] == "in" and rows[0]["pneumonia_probability"] == "0.8"
    assert rows[1]["scope"] == "out" and rows[1]["scope_reason"] == REASON
    assert rows[1]["pneumonia_probability"] == "" and rows[1]["model_call"] == OUT_OF_SCOPE
    assert rows[1]["agrees"] == "false"


def _results() -> list[FilmResult]:
    def ok(i: int, p: float) -> FilmResult:
        return FilmResult(STUDY / f"film-{i}.png", Status.OK, sha256=film_sha(i), probability=p,
                          prediction="PNEUMONIA" if p >= 0.5 else "NORMAL", threshold=0.5, scope=Scope())

    refused = FilmResult(STUDY / "film-2.png", Status.OK, sha256=film_sha(2), prediction=OUT_OF_SCOPE,
                         threshold=0.5, scope=Scope(reasons=(REASON,), warnings=("patient age 40 years",)))
    broken = FilmResult(STUDY / "film-3.png", Status.ERROR, error="cannot decode", sha256=film_sha(3))
    return [ok(0, 0.9), ok(1, 0.2), refused, broken]


def test_session_groups_out_of_scope_films_last_and_lets_the_reader_label_them(log_path: Path) -> None:
    with AgreementLog(log_path) as log:
        s = ReviewSession(log=log, model_id="tiny", reviewer="dr.a")
        s.open(STUDY, [STUDY / f"film-{i}.png" for i in range(4)])
        s.apply_results(_results())
        order = sorted(s.items, key=lambda it: it.sort_key, reverse=True)
        assert [it.name for it in order] == ["film-0.png", "film-1.png", "film-3.png", "film-2.png"]
        refused = s.items[2]
        assert refused.out_of_scope and not refused.judged and refused.scored
        assert refused.scope_reason == REASON and "age" in refused.warnings
        assert [it.name for it in s.items if Filter.OUT_OF_SCOPE.accepts(it)] == ["film-2.png"]
        assert s.why_not_review(refused) == "" and "no call" in s.why_not_agree(refused)
        assert s.why_not_agree(s.items[0]) == ""
        # the next unreviewed film skips it: it has no call to review
        assert s.next_unreviewed(order, 1) is order[0]
        with pytest.raises(ValueError, match="nothing to agree"):
            s.decide(refused, "agree")
        logged = s.decide(refused, Label.PNEUMONIA, note="a hand, really")
        assert logged.scope == "out" and logged.model_call == OUT_OF_SCOPE and logged.probability is None
        assert logged.scope_reason == REASON
        assert refused.review_state is ReviewState.LABELLED
        assert not Filter.DISAGREEMENTS.accepts(refused)
        in_scope = s.decide(s.items[0], "disagree")
        assert in_scope.scope == "in" and in_scope.decision == "NORMAL"
