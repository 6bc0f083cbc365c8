import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from xrayviewer.training.metrics import metrics_at, sensitivity_first_threshold


@pytest.mark.parametrize("target", [0.9, 0.95, 0.97, 1.0])
def test_threshold_rule_keeps_sensitivity_and_is_the_highest_such(target):
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200), np.ones(500)].astype(int)
    p = np.clip(np.r_[rng.normal(0.3, 0.15, 200), rng.normal(0.75, 0.15, 500)], 0, 1)
    t = sensitivity_first_threshold(y, p, target)
    m = metrics_at(y, p, t)
    assert m.sensitivity >= target
    # nudging the threshold up to the next positive score would lose sensitivity
    higher = np.sort(p[y == 1])
    higher = higher[higher > t]
    assert metrics_at(y, p, higher[0] + 1e-9).sensitivity < target
    assert m.auc == pytest.approx(roc_auc_score(y, p))


def test_metrics_confusion_arithmetic():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.7, 0.9])
    m = metrics_at(y, p, 0.5)
    assert (m.sensitivity, m.specificity, m.accuracy) == pytest.approx((2 / 3, 1 / 2, 3 / 5))
