"""Agreement statistics: the numpy kappa against scikit-learn, matrix orientation, per-reviewer grouping."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from xrayviewer.review import NORMAL, PNEUMONIA, AgreementLog, Decision, cohen_kappa, format_stats, log_stats
from xrayviewer.review.stats import compute_stats, confusion_matrix

MakeDecision = Callable[..., Decision]
LABELS = np.array([NORMAL, PNEUMONIA])


@pytest.mark.parametrize("seed", range(8))
def test_kappa_matches_sklearn_on_random_data(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    prevalence = rng.uniform(0.05, 0.95)
    radiologist = rng.random(n) < prevalence
    flip = rng.random(n) < rng.uniform(0.0, 0.5)  # model disagrees on a random fraction
    model = radiologist ^ flip
    r, m = LABELS[radiologist.astype(int)].tolist(), LABELS[model.astype(int)].tolist()
    expected = metrics.cohen_kappa_score(r, m, labels=list(LABELS))
    assert cohen_kappa(r, m) == pytest.approx(expected, abs=1e-12)
    assert np.array_equal(confusion_matrix(r, m), metrics.confusion_matrix(r, m, labels=list(LABELS)))


def test_kappa_edge_cases() -> None:
    assert cohen_kappa([NORMAL, PNEUMONIA], [NORMAL, PNEUMONIA]) == 1.0
    assert cohen_kappa([NORMAL, PNEUMONIA], [PNEUMONIA, NORMAL]) == -1.0
    assert math.isnan(cohen_kappa([NORMAL] * 3, [NORMAL] * 3))  # chance agreement is 1: undefined
    assert math.isnan(cohen_kappa([], []))
    with pytest.raises(ValueError):
        cohen_kappa([NORMAL], [])


def test_stats_per_reviewer_orientation_and_latest_only(tmp_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(tmp_path / "log.sqlite3") as log:
        # dr.a: 2 agree on PNEUMONIA, 1 agree on NORMAL, 1 model miss (radiologist P, model N).
        log.record(make_decision(1))
        log.record(make_decision(2))
        log.record(make_decision(3, probability=0.1, model_call=NORMAL, decision=NORMAL))
        log.record(make_decision(4, probability=0.2, model_call=NORMAL, decision=NORMAL))
        log.record(make_decision(4, probability=0.2, model_call=NORMAL, decision=PNEUMONIA))  # changed mind
        # dr.b: 1 over-call (radiologist N, model P).
        log.record(make_decision(1, reviewer="dr.b", decision=NORMAL))
        stats = log_stats(log)
        assert log_stats(log, study="/elsewhere").overall.n == 0

    a, b = stats.per_reviewer
    assert (a.reviewer, a.n, a.n_agree, a.confusion) == ("dr.a", 4, 3, ((1, 0), (1, 2)))
    assert a.model_missed == 1 and a.model_overcalled == 0
    assert a.agreement == pytest.approx(0.75)
    assert a.kappa == pytest.approx(cohen_kappa([NORMAL, PNEUMONIA, PNEUMONIA, PNEUMONIA],
                                                [NORMAL, NORMAL, PNEUMONIA, PNEUMONIA]))
    assert (b.reviewer, b.n, b.confusion, b.model_overcalled) == ("dr.b", 1, ((0, 1), (0, 0)), 1)
    assert stats.overall.reviewer is None
    assert stats.overall.confusion == ((1, 1), (1, 2)) and stats.overall.n == 5


def test_stats_from_path_opens_read_only(tmp_path: Path, make_decision: MakeDecision) -> None:
    path = tmp_path / "log.sqlite3"
    with AgreementLog(path) as log:
        log.record(make_decision(1))
    before = path.read_bytes()
    assert log_stats(path).overall.n == 1
    assert path.read_bytes() == before


def test_format_stats_table() -> None:
    assert format_stats(compute_stats([])) == "No decisions in the agreement log."
    assert math.isnan(compute_stats([]).overall.agreement)


def test_format_stats_lists_reviewers_and_overall(tmp_path: Path, make_decision: MakeDecision) -> None:
    with AgreementLog(tmp_path / "log.sqlite3") as log:
        log.record(make_decision(1))
        log.record(make_decision(2, probability=0.1, model_call=NORMAL, decision=NORMAL))
        log.record(make_decision(1, reviewer="dr.longname", decision=NORMAL))
        text = format_stats(log_stats(log))
    lines = text.splitlines()
    assert lines[0].split() == ["reviewer", "films", "agree", "kappa", "NN", "NP", "PN", "PP"]
    assert lines[2].split() == ["dr.a", "2", "100.0%", "1.000", "1", "0", "0", "1"]
    assert lines[3].split() == ["dr.longname", "1", "0.0%", "0.000", "0", "1", "0", "0"]
    assert lines[5].split()[:4] == ["ALL", "3", "66.7%", "0.400"]
    assert "model missed pneumonia" in text
