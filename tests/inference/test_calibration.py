"""Temperature scaling, ECE and the engine applying the card's temperature."""

import numpy as np
import pytest

from tests.helpers.tiny_model import build_tiny_model
from xrayviewer.inference.calibration import (
    expected_calibration_error,
    fit_temperature,
    logit,
    reliability,
    sigmoid,
)
from xrayviewer.inference.card import ModelCard
from xrayviewer.inference.engine import Engine


def _overconfident(n: int = 4000, true_t: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z) and logits reported 3x too large (an over-confident network)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.5, n)
    y = (rng.random(n) < sigmoid(z)).astype(int)
    return y, z * true_t


def test_fit_temperature_recovers_overconfidence_and_lowers_ece():
    y, raw = _overconfident()
    t = fit_temperature(y, raw)
    assert t == pytest.approx(3.0, rel=0.1)
    before, after = expected_calibration_error(y, sigmoid(raw)), expected_calibration_error(y, sigmoid(raw / t))
    assert after < before / 2 and after < 0.03


def test_fit_temperature_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        fit_temperature(np.ones(5), np.arange(5.0))


def test_reliability_bins_count_every_film():
    y, raw = _overconfident(500)
    rows = reliability(y, sigmoid(raw), bins=10)
    assert sum(r["n"] for r in rows) == 500 and len(rows) == 10
    assert all(r["lo"] <= r["mean_probability"] <= r["hi"] for r in rows if r["n"])


def test_logit_and_sigmoid_are_inverse_and_stable():
    p = np.array([1e-9, 0.1, 0.5, 0.9, 1 - 1e-9])
    np.testing.assert_allclose(sigmoid(logit(p)), np.clip(p, 1e-7, 1 - 1e-7), rtol=1e-6)
    assert np.isfinite(sigmoid(np.array([-1000.0, 1000.0]))).all()


def test_engine_applies_the_card_temperature(tmp_path):
    films = np.random.default_rng(1).random((6, 64, 64), dtype=np.float32)
    plain = Engine(build_tiny_model(tmp_path / "plain.onnx"), provider="cpu").run(films)
    card = ModelCard(id="tiny-calibrated", input_size=64, threshold=0.5, threshold_rule="test", temperature=2.0)
    calibrated = Engine(build_tiny_model(tmp_path / "cal.onnx", card=card), provider="cpu").run(films)
    np.testing.assert_allclose(calibrated.cam, plain.cam / 2, atol=1e-6)
    raw_logit = plain.cam.reshape(6, -1).mean(1)
    np.testing.assert_allclose(calibrated.probability, sigmoid(raw_logit / 2), atol=1e-6)
    # the map stays exact: its mean is the calibrated logit
    np.testing.assert_allclose(logit(calibrated.probability), calibrated.cam.reshape(6, -1).mean(1), atol=1e-4)
    assert not np.allclose(calibrated.probability, plain.probability)


def test_card_rejects_an_implausible_temperature():
    card = ModelCard(id="x", input_size=64, threshold=0.5, threshold_rule="t", temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        ModelCard.from_json(card.to_json())


def test_platt_scaling_undoes_a_shift_that_a_temperature_cannot():
    """Class-balanced training shifts the logit: a temperature alone leaves the shift, Platt removes it."""
    from xrayviewer.inference.calibration import fit_platt

    y, raw = _overconfident(true_t=2.0)
    shifted = raw - 3.0
    t, b = fit_platt(y, shifted)
    assert t == pytest.approx(2.0, rel=0.1) and b == pytest.approx(1.5, abs=0.3)
    platt = expected_calibration_error(y, sigmoid(shifted / t + b))
    temp_only = expected_calibration_error(y, sigmoid(shifted / fit_temperature(y, shifted)))
    assert platt < 0.03 < temp_only


def test_engine_applies_the_card_bias_and_keeps_the_map_exact(tmp_path):
    films = np.random.default_rng(2).random((5, 64, 64), dtype=np.float32)
    plain = Engine(build_tiny_model(tmp_path / "plain.onnx"), provider="cpu").run(films)
    card = ModelCard(id="tiny-platt", input_size=64, threshold=0.5, threshold_rule="test", temperature=2.0,
                     bias=0.7)
    cal = Engine(build_tiny_model(tmp_path / "platt.onnx", card=card), provider="cpu").run(films)
    raw = plain.cam.reshape(5, -1).mean(1)
    np.testing.assert_allclose(cal.probability, sigmoid(raw / 2 + 0.7), atol=1e-6)
    np.testing.assert_allclose(logit(cal.probability), cal.cam.reshape(5, -1).mean(1), atol=1e-4)
