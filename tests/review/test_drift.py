"""Drift check and the site threshold round trip (propose, accept, use, revert) on a real agreement log."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from tests.review.conftest import decision
from xrayviewer.inference.card import ModelCard
from xrayviewer.review import NORMAL, PNEUMONIA, AgreementLog
from xrayviewer.review.drift import (
    NotEnoughLabels,
    accept,
    drift_report,
    effective_threshold,
    propose_site_threshold,
    revert,
    wilson,
)

CARD = ModelCard(id="effnet-lite0@1", input_size=64, threshold=0.5, threshold_rule="test",
                 val_metrics={"sensitivity": 0.97, "specificity": 0.95})


def _site_films(log: AgreementLog, n_pos: int = 40, n_neg: int = 40, seed: int = 0) -> None:
    """A site where normal films score high: every normal between 0.3 and 0.7, pneumonias 0.6 to 1."""
    rng = np.random.default_rng(seed)
    for i in range(n_pos):
        p = float(rng.uniform(0.6, 1.0))
        log.record(decision(f"p{i}", probability=p, model_call=PNEUMONIA if p >= 0.5 else NORMAL,
                            decision=PNEUMONIA))
    for i in range(n_neg):
        p = float(rng.uniform(0.3, 0.7))
        log.record(decision(f"n{i}", probability=p, model_call=PNEUMONIA if p >= 0.5 else NORMAL,
                            decision=NORMAL))


def test_wilson_interval_brackets_the_proportion():
    lo, hi = wilson(30, 40)
    assert lo < 0.75 < hi and lo >= 0 and hi <= 1
    assert wilson(0, 10)[0] == 0 and wilson(10, 10)[1] == 1


def test_drift_report_says_plainly_when_specificity_falls_below_the_card(log_path):
    with AgreementLog(log_path) as log:
        _site_films(log)
        report = drift_report(log.latest(), CARD, CARD.threshold)
    assert report.films == 80 and report.sensitivity.n == 40 and report.specificity.n == 40
    assert report.specificity.verdict == "lower" and report.diverges
    text = "\n".join(report.lines())
    assert "false alarms" in text and "does NOT perform" in text


def test_latest_decision_per_film_counts_and_other_models_are_ignored(log_path):
    with AgreementLog(log_path) as log:
        log.record(decision(1, probability=0.9, decision=NORMAL, reviewer="dr.a"))
        log.record(decision(1, probability=0.9, decision=PNEUMONIA, reviewer="dr.b"))
        log.record(decision(2, probability=0.9, decision=NORMAL, model_id="other-model"))
        report = drift_report(log.latest(), CARD, 0.5)
    assert report.films == 1 and report.sensitivity.k == 1 and report.specificity.n == 0
    assert "no films labelled NORMAL" in report.specificity.sentence()


def test_no_proposal_before_enough_labels(log_path):
    with AgreementLog(log_path) as log:
        _site_films(log, n_pos=40, n_neg=10)
        with pytest.raises(NotEnoughLabels, match="10 normal"):
            propose_site_threshold(log.latest(), CARD, CARD.threshold)


def test_site_threshold_round_trip(log_path):
    with AgreementLog(log_path) as log:
        _site_films(log)
        assert effective_threshold(CARD, log) == (0.5, "model card")
        proposal = propose_site_threshold(log.latest(), CARD, CARD.threshold)
        # the card's 97 % sensitivity kept on the site's films, the surplus spent on specificity
        assert proposal.sensitivity_proposed >= 0.97 and proposal.proposed > 0.5
        assert proposal.specificity_proposed > proposal.specificity_now
        entry = accept(log, proposal, "dr.a")
        assert entry.action == "accept" and '"proposed"' in entry.figures
    # used from then on, by any instance that opens the log (here: a fresh, read-only one)
    with AgreementLog(log_path, readonly=True) as log:
        threshold, source = effective_threshold(CARD, log)
        assert threshold == proposal.proposed and "dr.a" in source
        report = drift_report(log.latest(), CARD, threshold, source)
        assert report.sensitivity.value >= 0.97
    with AgreementLog(log_path) as log:
        revert(log, CARD.id, "dr.b")
        assert effective_threshold(CARD, log) == (0.5, "model card")
        assert [e.action for e in log.site_threshold_history(CARD.id)] == ["accept", "revert"]
        with pytest.raises(ValueError, match="no site threshold"):
            revert(log, CARD.id, "dr.b")
        # another model's threshold is its own
        assert log.site_threshold("other-model") is None


def test_site_thresholds_are_append_only(log_path):
    with AgreementLog(log_path) as log:
        log.record_site_threshold(CARD.id, "accept", 0.4, "dr.a")
    conn = sqlite3.connect(log_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE site_thresholds SET threshold = 0.9")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM site_thresholds")
    conn.close()


def test_a_version_1_log_is_upgraded_and_keeps_its_decisions(log_path):
    log_path.parent.mkdir(parents=True)
    from xrayviewer.review import log as logmod

    conn = sqlite3.connect(log_path)
    for statement in logmod._CREATE_V1:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with AgreementLog(log_path, readonly=True) as old:  # read as it is, without upgrading
        assert old.count() == 0 and old.site_threshold(CARD.id) is None
    with AgreementLog(log_path) as log:
        log.record(decision(1))
        log.record_site_threshold(CARD.id, "accept", 0.42, "dr.a")
        assert log.site_threshold(CARD.id).threshold == 0.42
    conn = sqlite3.connect(log_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == logmod.SCHEMA_VERSION
    conn.close()


def test_bad_site_thresholds_are_refused(log_path):
    with AgreementLog(log_path) as log:
        for bad in (0.0, 1.0, None):
            with pytest.raises(ValueError):
                log.record_site_threshold(CARD.id, "accept", bad, "dr.a")
        with pytest.raises(ValueError):
            log.record_site_threshold(CARD.id, "delete", 0.3, "dr.a")  # type: ignore[arg-type]


def test_card_without_validation_figures_is_said_plainly() -> None:
    """A card with no sensitivity/specificity (an older or test model): the report says so, never raises."""
    from xrayviewer.review.drift import Rate

    rate = Rate("sensitivity", 3, 4, float("nan"))
    assert rate.verdict == "no data"
    assert "no validation figure" in rate.sentence() and "card n/a" in rate.sentence()
