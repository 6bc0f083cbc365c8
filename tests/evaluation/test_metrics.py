"""The report's numbers agree with scikit-learn and behave on the edge cases a small set brings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from xrayviewer.evaluation import metrics


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1.2, 400) + 2.0 * (y - 0.5))))
    return y, np.round(p, 2)  # rounding makes ties, which AUC code must average


def test_confusion_counts_and_rates() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.6])
    c = metrics.confusion_at(y, p, 0.6)  # p >= threshold is PNEUMONIA
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (2, 1, 2, 2)
    assert c["sensitivity"] == pytest.approx(2 / 3)
    assert c["specificity"] == pytest.approx(0.5)
    assert c["ppv"] == pytest.approx(0.5) and c["npv"] == pytest.approx(2 / 3)
    lo, hi = c["sensitivity_ci95"]
    assert lo < 2 / 3 < hi


def test_wilson_interval_known_values() -> None:
    lo, hi = metrics.wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert metrics.wilson(0, 5)[0] == 0.0 and metrics.wilson(5, 5)[1] == 1.0
    assert all(math.isnan(v) for v in metrics.wilson(0, 0))


def test_rank_auc_matches_sklearn_with_ties(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    assert metrics.rank_auc(y, p)[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.curves(y, p)["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    lo, hi = metrics.bootstrap_auc_ci(y, p, rounds=200)
    assert lo < roc_auc_score(y, p) < hi


def test_calibration_matches_sklearn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    cal = metrics.calibration(y, p)
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="uniform")
    filled = np.array(cal["count"]) > 0
    assert np.allclose(np.array(cal["fraction_positive"])[filled], frac)
    assert np.allclose(np.array(cal["mean_predicted"])[filled], mean)
    assert sum(cal["count"]) == len(y)
    assert cal["brier"] == pytest.approx(brier_score_loss(y, p))


def test_sensitivity_target_thresholds_reach_their_target(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = scored
    rows = metrics.threshold_table(y, p, card_threshold=0.3)
    assert rows[0]["rule"] == "model card threshold" and rows[1]["threshold"] == 0.5
    for target in metrics.SENSITIVITY_TARGETS:
        row = next(r for r in rows if f"{target:.2f}" in r["rule"])
        assert row["sensitivity"] >= target


def test_card_threshold_of_one_half_is_one_row() -> None:
    y, p = np.array([0, 1, 1]), np.array([0.2, 0.6, 0.9])
    rows = metrics.threshold_table(y, p, card_threshold=0.5)
    assert [r["threshold"] for r in rows].count(0.5) == 1
    assert rows[0]["rule"] == "model card threshold; 0.5"


def test_per_subtype_sensitivity_and_specificity() -> None:
    y = np.array([0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.8, 0.9, 0.2, 0.7, 0.95])
    rows = {r["subtype"]: r for r in metrics.per_subtype(y, p, ["normal", "", "bacteria", "virus", "virus",
                                                                  ""], 0.5)}
    assert rows["normal"]["measure"] == "specificity" and rows["normal"]["value"] == 0.5  # "" normal -> normal
    assert rows["bacteria"]["value"] == 1.0
    assert rows["virus"]["measure"] == "sensitivity" and rows["virus"]["value"] == 0.5
    assert rows["unspecified"]["n"] == 1  # a pneumonia without a subtype is kept, not dropped


def test_misclassified_most_confidently_wrong_first() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.9, 0.999, 0.01, 0.4, 0.1, 0.8])
    assert metrics.misclassified(y, p, 0.5, limit=10) == [1, 2, 0, 3]
    assert metrics.misclassified(y, p, 0.5, limit=2) == [1, 2]


def test_one_class_set_gives_nan_not_errors() -> None:
    y, p = np.zeros(5, int), np.linspace(0.1, 0.9, 5)
    s = metrics.summarise(y, p, ["normal"] * 5, 0.5, bootstrap_rounds=20)
    assert math.isnan(s["roc_auc"]) and math.isnan(s["confusion"]["sensitivity"])
    assert s["confusion"]["specificity"] == pytest.approx(0.4)
    text = json.dumps(metrics.json_ready(s), allow_nan=False)  # strict JSON: NaN became null
    assert '"roc_auc": null' in text
