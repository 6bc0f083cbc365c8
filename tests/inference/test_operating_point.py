"""The robust threshold rule and the borderline band."""

import numpy as np
import pytest

from xrayviewer.inference.calibration import logit, sigmoid
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.operating_point import (
    borderline_band,
    empirical_sensitivity_threshold,
    robust_threshold,
)


def _confident_val(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A confident model's val scores: pneumonias around logit +6, normals around -6, and 4 % of the
    pneumonias scored like normals (the outliers that drag the empirical rule down)."""
    rng = np.random.default_rng(seed)
    pos = rng.normal(6, 1.5, 390)
    pos[:16] = rng.normal(-5, 1.0, 16)
    neg = rng.normal(-6, 1.5, 134)
    return np.r_[np.ones(390), np.zeros(134)].astype(int), sigmoid(np.r_[pos, neg])


def test_empirical_rule_collapses_on_outliers_robust_rule_does_not():
    y, p = _confident_val()
    old = empirical_sensitivity_threshold(y, p, 0.97)
    op = robust_threshold(y, p, target_sensitivity=0.97, floor_sensitivity=0.95)
    assert old < 0.05  # pulled down among the normals by the mis-scored pneumonias
    assert op.threshold > 0.5  # the robust rule stays between the two bulks
    assert op.threshold <= op.floor  # never less sensitive than the floor on these films
    sens = (p[y == 1] >= op.threshold).mean()
    spec = (p[y == 0] < op.threshold).mean()
    assert sens >= 0.95 and spec > (p[y == 0] < old).mean()


def test_floor_caps_the_robust_threshold():
    y, p = _confident_val()
    # a floor of 99 % cannot be met above the outliers: the cap wins and keeps 99 % sensitivity
    op = robust_threshold(y, p, target_sensitivity=0.97, floor_sensitivity=0.99)
    assert op.threshold == pytest.approx(op.floor) and (p[y == 1] >= op.threshold).mean() >= 0.99


def test_empirical_rule_keeps_its_sensitivity():
    y, p = _confident_val(1)
    t = empirical_sensitivity_threshold(y, p, 0.9)
    assert (p[y == 1] >= t).mean() >= 0.9
    assert (p[y == 1] >= t + 1e-3).mean() < 0.9 + 1 / 390 * 2


def test_borderline_band_is_symmetric_in_odds_and_moves_with_a_site_threshold():
    lo, hi = borderline_band(0.3, 1.0)
    assert logit(0.3) - logit(lo) == pytest.approx(1.0, abs=1e-4)
    assert logit(hi) - logit(0.3) == pytest.approx(1.0, abs=1e-4)
    card = ModelCard(id="x", input_size=64, threshold=0.3, threshold_rule="t", borderline=[lo, hi])
    assert card.is_borderline(0.3) and card.is_borderline(lo) and not card.is_borderline(hi)
    assert not card.is_borderline(0.05) and not card.is_borderline(0.9)
    # a site threshold of 0.6 moves the band with it
    assert card.is_borderline(0.6, threshold=0.6) and not card.is_borderline(0.3 * 0.5, threshold=0.6)
    assert ModelCard.from_json(card.to_json()).borderline == [lo, hi]


def test_card_rejects_a_band_that_misses_the_threshold():
    card = ModelCard(id="x", input_size=64, threshold=0.3, threshold_rule="t", borderline=[0.5, 0.7])
    with pytest.raises(ValueError, match="borderline"):
        ModelCard.from_json(card.to_json())
