"""The embedding OOD detector: fitted on synthetic embeddings whose true distribution the test knows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xrayviewer.scope import OodDetector, Scope, ScopeError, ScopeGate, evaluate_ood, fit_ood


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0, rank: int = 96) -> np.ndarray:
    """Correlated Gaussian embeddings like pooled CNN features: a decaying spectrum over ``rank``
    directions plus a little isotropic noise. The covariance is the same for every call with this ``d``."""
    rank = min(rank, d)
    basis = np.random.default_rng(1234).normal(size=(d, rank)) / np.sqrt(d)  # nearly orthonormal columns
    scales = 3.0 / (1 + np.arange(rank)) ** 0.7
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, rank)) * scales
    return z @ basis.T + 0.05 * rng.normal(size=(n, d)) + 0.5 + shift


@pytest.fixture(scope="module")
def fitted() -> tuple[OodDetector, np.ndarray]:
    train, val = _gaussian(3000, 128, seed=1), _gaussian(500, 128, seed=2)
    return fit_ood(train, val, max_val_refusal=0.01, components=32, margin=1.0), val


def test_cutoff_refuses_at_most_one_percent_of_val(fitted: tuple[OodDetector, np.ndarray]) -> None:
    det, val = fitted
    ev = evaluate_ood(det, val)
    assert ev.n == 500 and ev.refused <= 5 and ev.rate <= 0.01
    assert det.val_refusal_rate == pytest.approx(ev.rate)
    assert det.info["n_train"] == 3000 and det.info["components"] == 32
    # fresh films from the same distribution: about 1 % refused, not many more
    assert evaluate_ood(det, _gaussian(4000, 128, seed=3)).rate < 0.03
    assert "refused" in ev.summary() and "q99" in ev.quantiles()


def test_films_from_elsewhere_are_refused(fitted: tuple[OodDetector, np.ndarray]) -> None:
    det, _ = fitted
    assert evaluate_ood(det, _gaussian(200, 128, seed=4, shift=1.0)).rate == 1.0  # moved
    rng = np.random.default_rng(5)
    assert det.refuses(rng.normal(0.5, 3.0, size=(200, 128))).all()  # isotropic: off the training subspace
    assert det.refuses(np.full((1, 128), np.nan)).all()  # unscorable counts as far


def test_typical_training_film_scores_about_one(fitted: tuple[OodDetector, np.ndarray]) -> None:
    det, _ = fitted
    assert np.median(det.score(_gaussian(1000, 128, seed=6))) == pytest.approx(1.0, abs=0.2)


def test_margin_only_lowers_refusals() -> None:
    train, val = _gaussian(2000, 64, seed=7), _gaussian(300, 64, seed=8)
    plain = fit_ood(train, val, components=16, margin=1.0)
    wide = fit_ood(train, val, components=16, margin=1.2)
    assert wide.cutoff == pytest.approx(plain.cutoff * 1.2)
    assert wide.info["val_refused"] <= plain.info["val_refused"]


def test_json_round_trip_scores_the_same_and_stays_small() -> None:
    d = 2560  # two EfficientNet-Lite0 members, concatenated
    train, val = _gaussian(200, d, seed=9), _gaussian(100, d, seed=10)
    det = fit_ood(train, val, components=64)
    text = json.dumps(det.to_dict())
    assert len(text) < 1_000_000
    back = OodDetector.from_dict(json.loads(text))
    probe = _gaussian(50, d, seed=11)
    np.testing.assert_array_equal(back.score(probe), det.score(probe))
    assert back.cutoff == det.cutoff and back.info["val_refused"] == det.info["val_refused"]
    # the stored detector refuses exactly what fit_ood measured
    assert int(np.sum(back.score(val) > back.cutoff)) == det.info["val_refused"]


def test_few_films_cap_the_components() -> None:
    det = fit_ood(_gaussian(10, 64, seed=12), _gaussian(5, 64, seed=13), components=48)
    assert det.k == 9
    assert np.isfinite(det.score(_gaussian(3, 64, seed=14))).all()


@pytest.mark.parametrize(
    ("train", "val", "kwargs", "match"),
    [
        (np.zeros((10, 4)), np.zeros((5, 3)), {}, "differ in width"),
        (np.zeros((2, 4)), np.zeros((5, 4)), {}, "at least 3"),
        (np.zeros((10,)), np.zeros((5, 4)), {}, r"\[N, D\]"),
        (np.full((10, 4), np.nan), np.zeros((5, 4)), {}, "NaN"),
        (np.ones((10, 4)), np.ones((5, 4)), {"max_val_refusal": 1.5}, "max_val_refusal"),
        (np.ones((10, 4)), np.ones((5, 4)), {"margin": 0.5}, "margin"),
    ],
)
def test_bad_fit_input_gets_a_clear_message(train, val, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        fit_ood(train, val, **kwargs)


def test_wrong_width_embedding_is_refused_clearly(fitted: tuple[OodDetector, np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"\[N, 128\]"):
        fitted[0].score(np.zeros((2, 127)))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(version=99),
        lambda d: d.update(method="knn"),
        lambda d: d.pop("mean"),
        lambda d: d["components"].update(base64="!!!"),
        lambda d: d["components"].update(shape=[3, 3]),
        lambda d: d.update(cutoff=-1.0),
        lambda d: d.update(cutoff=float("nan")),
    ],
)
def test_damaged_detector_dict_is_refused(fitted: tuple[OodDetector, np.ndarray], damage) -> None:
    data = json.loads(json.dumps(fitted[0].to_dict()))
    damage(data)
    with pytest.raises(ValueError):
        OodDetector.from_dict(data)


class _Card:
    id = "card-for-test"

    def __init__(self, ood: dict) -> None:
        self.ood = ood


def test_gate_reads_the_card_and_words_the_refusal(fitted: tuple[OodDetector, np.ndarray]) -> None:
    det, val = fitted
    gate = ScopeGate.for_model(_Card(det.to_dict()))
    assert gate.detector is not None and "cut-off" in gate.describe()
    inside = gate.check_embedding(Scope(), val[0])
    assert inside.in_scope and inside.ood_score is not None and inside.ood_cutoff == pytest.approx(det.cutoff)
    far = gate.check_embedding(Scope(warnings=("w",)), np.full(128, 50.0))
    assert far.label == "out" and far.warnings == ("w",)
    assert far.reason_text.startswith("image unlike the chest films the model was trained on (OOD score ")
    assert f"> cut-off {det.cutoff:.2f})" in far.reason_text
    assert gate.check_embedding(Scope(), None).ood_score is None  # a model without an embedding output


def test_gate_without_detector_and_with_a_broken_one() -> None:
    gate = ScopeGate.for_model(_Card({}))
    assert gate.detector is None and "no OOD detector" in gate.describe()
    with pytest.raises(ScopeError, match="cannot be read"):
        ScopeGate.for_model(_Card({"method": "x"}))


def test_principal_axes_agree_whichever_side_is_smaller() -> None:
    from xrayviewer.scope.ood import _principal_axes

    x = _gaussian(40, 90, seed=15)
    x = x - x.mean(axis=0)
    vals, vecs = _principal_axes(x, 5)  # fewer films than dimensions: the Gram route
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(vals, s[:5] ** 2 / 39, rtol=1e-8)
    np.testing.assert_allclose(np.abs(vecs.T @ vt[:5].T), np.eye(5), atol=1e-6)
    vals_t, _ = _principal_axes(x[:, :30], 5)  # more films than dimensions: the covariance route
    s_t = np.linalg.svd(x[:, :30], compute_uv=False)
    np.testing.assert_allclose(vals_t, s_t[:5] ** 2 / 39, rtol=1e-8)
