"""review/session.py, reading rules added for issue 11 and 8: who reads, blinded reading, unreadable films,
the first unreviewed film on reopening, the threshold in force, and the study export (one row per film)."""

from __future__ import annotations

import csv
import math
import sqlite3
from pathlib import Path

import pytest

from tests.review.conftest import film_sha
from xrayviewer.common.vocab import Label, Status
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.scoring import FilmResult
from xrayviewer.review import AgreementLog
from xrayviewer.review import log as logmod
from xrayviewer.review.export import STUDY_COLUMNS, export_study_csv, study_rows
from xrayviewer.review.log import NON_DIAGNOSTIC, RECALL, UnreadableDecision
from xrayviewer.review.session import ReviewSession, ReviewState, Verdict

STUDY = Path("/studies/s1")


def result(i: int, p: float | None) -> FilmResult:
    path = STUDY / f"film-{i}.png"
    if p is None:
        return FilmResult(path, Status.ERROR, error="cannot decode: truncated", sha256=film_sha(i))
    return FilmResult(path, Status.OK, sha256=film_sha(i), probability=p,
                      prediction="PNEUMONIA" if p >= 0.5 else "NORMAL", threshold=0.5, borderline=0.45 <= p < 0.55)


def open_session(log: AgreementLog, reviewer: str, n: int = 5) -> ReviewSession:
    s = ReviewSession(log=log, model_id="tiny", reviewer=reviewer)
    s.open(STUDY, [STUDY / f"film-{i}.png" for i in range(n)])
    s.apply_results([result(0, 0.9), result(1, 0.7), result(2, 0.52), result(3, 0.1), result(4, None)][:n])
    return s


@pytest.fixture
def log(tmp_path: Path):
    with AgreementLog(tmp_path / "log.sqlite3") as opened:
        yield opened


def order(s: ReviewSession) -> list:
    return sorted(s.items, key=lambda it: -it.sort_key)


def test_borderline_reaches_the_item(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    assert [it.borderline for it in s.items[:4]] == [False, False, True, False]


def test_blinded_by_default_when_another_reader_read_the_study(log: AgreementLog) -> None:
    a = open_session(log, "dr.a")
    assert not a.is_blinded  # first reader: nothing to hide
    a.decide(a.items[0], Verdict.AGREE)
    a.decide(a.items[1], Label.NORMAL)

    b = open_session(log, "dr.b")
    assert b.others_have_read == 2 and b.is_blinded
    film = b.items[0]
    assert b.history(film) == [] and b.hidden_count(film) == 1  # dr.a's call stays hidden...
    b.decide(film, Label.PNEUMONIA)
    assert [d.reviewer for d in b.history(film)] == ["dr.a", "dr.b"]  # ...until dr.b has decided it
    assert b.hidden_count(film) == 0
    assert b.items[1].decision is None  # dr.a's decision is not dr.b's
    b.blinded = False  # the reader may switch it off
    assert [d.reviewer for d in b.history(b.items[1])] == ["dr.a"]
    assert b.readers() == ["dr.a", "dr.b"]


def test_reader_change_reloads_their_own_decisions(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    s.decide(s.items[0], Verdict.AGREE)
    s.set_reviewer("dr.b")
    assert s.items[0].decision is None and s.is_blinded
    s.set_reviewer("dr.a")
    assert s.items[0].review_state is ReviewState.AGREED and not s.is_blinded


def test_reopening_starts_at_the_first_unreviewed_film(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    assert s.film_to_show(order(s)) is s.items[0]  # the most suspicious
    s.decide(s.items[0], Verdict.AGREE)
    s.decide(s.items[1], Verdict.AGREE)
    again = open_session(log, "dr.a")
    assert again.film_to_show(order(again)) is again.items[2]  # not the top one: that is done
    for it in again.items[2:4]:
        again.decide(it, Verdict.AGREE)
    assert again.first_unreviewed(order(again)) is None
    assert again.film_to_show(order(again)) is again.items[0]  # all done: the top one
    assert again.film_to_show([]) is None


def test_film_to_show_reads_a_lazy_order_only_as_far_as_needed(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    s.decide(s.items[0], Verdict.AGREE)
    read = []

    def lazily():
        for it in order(s):
            read.append(it)
            yield it

    assert s.film_to_show(lazily()) is s.items[1]
    assert read == order(s)[:2]


def test_row_of_takes_a_path_or_its_text(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    path = s.items[3].path
    assert s.row_of(path) == s.row_of(str(path)) == 3
    assert s.row_of(path.parent / "not-in-the-study.png") is None


def test_unreadable_film_gets_a_reader_decision(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    bad = s.items[4]
    assert bad.status == Status.ERROR and not bad.reviewed
    with pytest.raises(ValueError):
        s.decide_unreadable(s.items[0], NON_DIAGNOSTIC)  # a readable film has a model call
    with pytest.raises(ValueError):
        s.decide_unreadable(bad, "NORMAL")
    logged = s.decide_unreadable(bad, RECALL, note="=repeat AP")
    assert logged.decision == RECALL and logged.error == "cannot decode: truncated"
    assert bad.review_state is ReviewState.FLAGGED and s.counts().reviewed == 1
    again = open_session(log, "dr.a")
    assert again.items[4].unreadable_decision is not None
    assert again.items[4].unreadable_decision.decision == RECALL
    assert open_session(log, "dr.b").items[4].unreadable_decision is None


def test_unreadable_decisions_are_append_only(log: AgreementLog) -> None:
    log.record_unreadable(UnreadableDecision("/s/x.dcm", "/s", "dr.a", NON_DIAGNOSTIC))
    log.record_unreadable(UnreadableDecision("/s/x.dcm", "/s", "dr.a", RECALL))
    assert [u.decision for u in log.latest_unreadable()] == [RECALL]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log._conn.execute("DELETE FROM unreadable_decisions")  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        UnreadableDecision("/s/x.dcm", "/s", "dr.a", "MAYBE")


def test_v3_log_is_migrated_keeping_its_decisions(tmp_path: Path, log: AgreementLog) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for v in range(3):
        for statement in logmod._MIGRATIONS[v]:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with AgreementLog(path, readonly=True) as old:
        assert old.latest_unreadable() == []  # read as it is
    with AgreementLog(path) as new:
        new.record_unreadable(UnreadableDecision("/s/x.dcm", "/s", "dr.a", NON_DIAGNOSTIC))
        assert len(new.latest_unreadable()) == 1


def test_site_threshold_recalls_every_film(log: AgreementLog) -> None:
    s = open_session(log, "dr.a")
    card = ModelCard(id="tiny", input_size=8, threshold=0.5, threshold_rule="test", borderline=[0.4, 0.6])
    rows = s.apply_threshold(0.75, card)
    assert [it.prediction for it in s.items[:4]] == ["PNEUMONIA", "NORMAL", "NORMAL", "NORMAL"]
    assert all(it.threshold == 0.75 for it in s.items[:4]) and math.isnan(s.items[4].threshold)
    assert set(rows) == {0, 1, 2, 3}
    assert s.items[1].borderline  # the band moved with the threshold (0.7 is now near it)
    assert s.apply_threshold(0.75, card) == []


def test_study_export_has_one_row_per_film(log: AgreementLog, tmp_path: Path) -> None:
    s = open_session(log, "dr.a")
    s.open(STUDY, [STUDY / f"film-{i}.png" for i in range(6)])  # film-5 is never scored
    s.apply_results([result(0, 0.9), result(1, 0.7), result(2, 0.52), result(3, 0.1), result(4, None)])
    s.decide(s.items[0], Verdict.DISAGREE, note="+old scar")
    s.decide_unreadable(s.items[4], NON_DIAGNOSTIC)
    out = tmp_path / "study.csv"
    assert export_study_csv(s, out) == 6
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(STUDY_COLUMNS)
    by = {Path(r["path"]).name: r for r in rows}
    assert by["film-0.png"]["decision"] == "NORMAL" and by["film-0.png"]["agrees"] == "false"
    assert by["film-0.png"]["note"] == "'+old scar"  # CSV injection rule
    assert by["film-1.png"]["review_state"] == "unreviewed" and by["film-1.png"]["model_call"] == "PNEUMONIA"
    assert by["film-1.png"]["decision"] == "" and by["film-1.png"]["pneumonia_probability"] == "0.7"
    assert by["film-2.png"]["borderline"] == "yes"
    assert by["film-4.png"]["status"] == "error" and by["film-4.png"]["decision"] == NON_DIAGNOSTIC
    assert by["film-4.png"]["error"] == "cannot decode: truncated"
    assert by["film-5.png"]["status"] == "pending" and by["film-5.png"]["model_call"] == ""
    assert len(study_rows(s)) == 6
