"""review/session.py: the study, decisions, run state and review rules, without Qt (milliseconds each)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.review.conftest import film_sha
from xrayviewer.common.vocab import Label, Status
from xrayviewer.inference.scoring import FilmResult
from xrayviewer.review import AgreementLog, ReviewError
from xrayviewer.review.session import (
    Filter,
    ReviewSession,
    ReviewState,
    RunState,
    Verdict,
    label_for,
    parse_kind,
)

STUDY = Path("/studies/s1")


def result(i: int, p: float | None, *, sha: str | None = None) -> FilmResult:
    path = STUDY / f"film-{i}.png"
    if p is None:
        return FilmResult(path, Status.ERROR, error="cannot decode", sha256=sha or "")
    return FilmResult(path, Status.OK, sha256=sha or film_sha(i), probability=p,
                      prediction="PNEUMONIA" if p >= 0.5 else "NORMAL", threshold=0.5, notes=["MONOCHROME1"])


@pytest.fixture
def log(tmp_path: Path):
    with AgreementLog(tmp_path / "log.sqlite3") as opened:
        yield opened


@pytest.fixture
def session(log: AgreementLog) -> ReviewSession:
    s = ReviewSession(log=log, model_id="tiny", reviewer="dr.a")
    s.open(STUDY, [STUDY / f"film-{i}.png" for i in range(5)])
    return s


def test_agree_disagree_mapping() -> None:
    assert label_for(Verdict.AGREE, "PNEUMONIA") is Label.PNEUMONIA
    assert label_for("disagree", "PNEUMONIA") is Label.NORMAL
    assert label_for("disagree", "NORMAL") is Label.PNEUMONIA
    assert label_for(Label.NORMAL, "PNEUMONIA") is Label.NORMAL
    assert parse_kind("agree") is Verdict.AGREE and parse_kind("PNEUMONIA") is Label.PNEUMONIA
    with pytest.raises(ValueError):
        parse_kind("maybe")


def test_results_merge_into_items_and_counts(session: ReviewSession) -> None:
    assert session.counts().as_dict() == {"total": 5, "scored": 0, "errors": 0, "reviewed": 0, "pending": 5}
    rows = session.apply_results([result(0, 0.9), result(3, None), result(99, 0.1)])  # 99: not in the study
    assert rows == [0, 3]
    a, d = session.items[0], session.items[3]
    assert a.status == Status.OK and a.prediction == "PNEUMONIA" and a.notes == ["MONOCHROME1"]
    assert d.status == Status.ERROR and d.error == "cannot decode" and math.isnan(d.probability)
    assert a.sort_key == 0.9 and session.items[1].sort_key == -1.0 and d.sort_key == -2.0
    assert session.counts().as_dict() == {"total": 5, "scored": 1, "errors": 1, "reviewed": 0, "pending": 3}
    assert session.pending_paths() == [STUDY / f"film-{i}.png" for i in (1, 2, 4)]


def test_decide_records_once_and_duplicates_share_it(session: ReviewSession, log: AgreementLog) -> None:
    sha = film_sha("dup")
    session.apply_results([result(0, 0.9, sha=sha), result(1, 0.8, sha=sha), result(2, 0.2)])
    logged = session.decide(session.items[0], Verdict.DISAGREE, note="clear lungs")
    assert logged.decision == "NORMAL" and not logged.agrees and logged.note == "clear lungs"
    assert logged.study == str(STUDY) and logged.model_id == "tiny" and logged.reviewer == "dr.a"
    assert session.items[1].decision == logged  # same file elsewhere in the study: same decision
    assert session.items[0].review_state is ReviewState.DISAGREED
    assert session.rows_of_sha(sha) == [0, 1]
    assert session.counts().reviewed == 2
    assert [d.decision for d in log.latest()] == ["NORMAL"]
    assert [d.id for d in session.history(session.items[1])] == [logged.id]
    session.decide(session.items[2], "agree")
    assert session.items[2].review_state is ReviewState.AGREED


def test_what_cannot_be_reviewed(tmp_path: Path, session: ReviewSession) -> None:
    session.apply_results([result(0, None), result(1, 0.7)])
    with pytest.raises(ValueError, match="Only scored films"):
        session.decide(session.items[0], Verdict.AGREE)
    with pytest.raises(ValueError, match="Only scored films"):
        session.decide(session.items[2], Verdict.AGREE)  # still pending
    session.set_reviewer("  ")
    with pytest.raises(ValueError, match="no reviewer"):
        session.decide(session.items[1], Verdict.AGREE)
    no_model = ReviewSession(log=session.log, model_id=None, reviewer="dr.a")
    assert "no model" in no_model.why_not_review()
    no_log = ReviewSession(log=None, model_id="m", reviewer="dr.a", log_error="the disk is full")
    assert no_log.why_not_review() == "Review is off: the disk is full"
    readonly = AgreementLog(session.log.path, readonly=True)
    try:
        ro = ReviewSession(log=readonly, model_id="m", reviewer="dr.a")
        ro.open(STUDY, [STUDY / "film-1.png"])
        ro.apply_results([result(1, 0.7)])
        with pytest.raises(ReviewError):
            ro.decide(ro.items[0], Verdict.AGREE)
        assert ro.items[0].decision is None  # nothing shown as saved that was not
    finally:
        readonly.close()


def test_decisions_are_per_reviewer_and_reload(session: ReviewSession, log: AgreementLog) -> None:
    session.apply_results([result(i, 0.1 * i) for i in range(5)])
    session.decide(session.items[4], Verdict.AGREE)
    assert session.set_reviewer("dr.b") == ""
    assert session.counts().reviewed == 0 and session.items[4].decision is None
    session.set_reviewer("dr.a")
    assert session.items[4].decision is not None
    # A new session on the same study sees the decision as soon as the film's hash is known.
    again = ReviewSession(log=log, model_id="tiny", reviewer="dr.a")
    again.open(STUDY, [it.path for it in session.items])
    assert again.items[4].decision is None
    assert again.learn_sha(STUDY / "film-4.png", film_sha(4)) == 4
    assert again.items[4].review_state is ReviewState.AGREED
    assert again.learn_sha(STUDY / "film-4.png", film_sha(4)) is None  # already known
    assert again.learn_sha(STUDY / "film-3.png", film_sha(3)) is None  # known, but no decision


def test_next_unreviewed_wraps_and_skips(session: ReviewSession) -> None:
    session.apply_results([result(0, 0.9), result(1, None), result(2, 0.6), result(3, 0.3)])
    order = sorted(session.items, key=lambda it: it.sort_key, reverse=True)  # 0, 2, 3, 4 (pending), 1 (error)
    assert [it.name for it in order] == ["film-0.png", "film-2.png", "film-3.png", "film-4.png", "film-1.png"]
    assert session.next_unreviewed(order, 0).name == "film-2.png"
    assert session.next_unreviewed(order, 2).name == "film-0.png"  # wraps, skipping pending and unreadable
    assert session.next_unreviewed(order, -1).name == "film-0.png"  # nothing selected: from the top
    session.decide(order[1], Verdict.AGREE)
    session.decide(order[2], Verdict.AGREE)
    assert session.next_unreviewed(order, 0) is None  # every other scored film is reviewed


def test_filters(session: ReviewSession) -> None:
    session.apply_results([result(0, 0.9), result(1, None), result(2, 0.6)])
    session.decide(session.items[0], Verdict.DISAGREE)
    session.decide(session.items[2], Verdict.AGREE)
    shown = {f: [it.name for it in session.items if f.accepts(it)] for f in Filter}
    assert shown[Filter.ALL] == [f"film-{i}.png" for i in range(5)]
    assert shown[Filter.UNREADABLE] == ["film-1.png"]
    assert shown[Filter.UNREVIEWED] == ["film-3.png", "film-4.png"]
    assert shown[Filter.DISAGREEMENTS] == ["film-0.png"]
    assert Filter.DISAGREEMENTS.label == "Model / radiologist disagreements"


def test_run_state_and_follow_the_top(session: ReviewSession) -> None:
    assert session.run_state is RunState.IDLE and session.follow_top
    session.run_started()
    session.run_finished(cancelled=False)
    assert session.run_state is RunState.DONE
    session.run_started()
    session.run_cancelled()
    session.run_finished(cancelled=True)
    assert session.run_state is RunState.CANCELLED
    session.run_started()
    session.run_failed()
    session.run_finished(cancelled=False)
    assert session.run_state is RunState.FAILED  # a failure is not turned into "done"
    assert session.should_show_top(has_current=True)
    session.reviewer_picked()
    assert not session.should_show_top(has_current=True) and session.should_show_top(has_current=False)
    session.open(STUDY, [])
    assert session.follow_top and session.run_state is RunState.IDLE


def test_unreadable_thumbnail_marks_a_pending_film_only(session: ReviewSession) -> None:
    session.apply_results([result(0, 0.9)])
    assert session.mark_unreadable(STUDY / "film-0.png", "broken") is None  # scored already
    assert session.mark_unreadable(STUDY / "film-1.png", "broken") == 1
    assert session.items[1].status == Status.ERROR and session.items[1].error == "broken"
    assert session.mark_unreadable(STUDY / "elsewhere.png", "broken") is None
