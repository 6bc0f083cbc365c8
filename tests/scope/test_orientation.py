"""The orientation check: a linear classifier on the embedding, turned films against upright ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xrayviewer.inference.card import ModelCard
from xrayviewer.scope import IN_SCOPE, OrientationCheck, ScopeError, ScopeGate, describe_orientation, fit_orientation
from xrayviewer.scope.orientation import TURNED, UPRIGHT, masked_borders, variants


def embeddings(n: int, seed: int, turned: bool) -> np.ndarray:
    """Turning a film moves many embedding values together (upright films on one side of that direction,
    turned ones on the other), under noise of very different widths."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 40)) * np.linspace(3.0, 0.2, 40)
    x[:, ::2] += 1.2 if turned else -1.2
    return x


@pytest.fixture(scope="module")
def check() -> OrientationCheck:
    return fit_orientation(embeddings(300, 0, False), embeddings(900, 1, True), val_upright=embeddings(200, 2, False),
                           val_turned=embeddings(200, 3, True), components=8)


def test_turned_films_are_refused_and_upright_ones_kept(check: OrientationCheck) -> None:
    assert check.refuses(embeddings(500, 4, True)).mean() > 0.97
    assert check.refuses(embeddings(500, 5, False)).mean() < 0.03
    assert check.info["n_train"] == 300 and check.info["n_val"] == 200
    assert check.info["val_upright_refused"] < 0.03 < 0.97 < check.info["val_turned_refused"]
    assert "orientation check" in check.describe() and "validation films" in check.describe()


def test_three_times_more_turned_films_do_not_tilt_the_boundary() -> None:
    """Sides are weighed equally: many turned copies of each film must not push upright films over."""
    check = fit_orientation(embeddings(300, 0, False), embeddings(3000, 1, True), components=8)
    assert check.refuses(embeddings(2000, 6, False)).mean() < 0.03


def test_round_trip_through_the_model_card(check: OrientationCheck) -> None:
    card = ModelCard(id="m", input_size=64, threshold=0.5, threshold_rule="test")
    card.orientation = check.to_dict()
    again = ModelCard.from_json(card.to_json())
    restored = OrientationCheck.from_dict(again.orientation)
    x = embeddings(50, 7, True)
    np.testing.assert_allclose(restored.score(x), check.score(x), rtol=1e-5, atol=1e-4)
    assert len(json.dumps(again.orientation)) < 2000  # a weight vector and a bias, not the training data


def test_gate_refuses_with_a_reason_a_reader_can_act_on(check: OrientationCheck) -> None:
    card = ModelCard(id="m", input_size=64, threshold=0.5, threshold_rule="test")
    card.orientation = check.to_dict()
    gate = ScopeGate.for_model(card)
    turned = gate.check_embedding(IN_SCOPE, embeddings(1, 8, True)[0])
    assert not turned.in_scope and "turned or upside down" in turned.reason_text and "upright" in turned.reason_text
    assert gate.check_embedding(IN_SCOPE, embeddings(1, 9, False)[0]).in_scope
    assert gate.check_embedding(IN_SCOPE, np.full(40, np.nan)).in_scope is False  # unscorable: refused
    assert "orientation check" in gate.describe()


@pytest.mark.parametrize("damage", [
    lambda d: d.update(method="something else"),
    lambda d: d.pop("weights"),
    lambda d: d.update(dim=41),
    lambda d: d.update(bias=float("nan")),
    lambda d: d["weights"].update(base64="%%%"),
])
def test_damaged_check_in_a_card_is_a_clear_error(check: OrientationCheck, damage) -> None:
    data = json.loads(json.dumps(check.to_dict()))
    damage(data)
    with pytest.raises(ValueError, match="orientation check"):
        OrientationCheck.from_dict(data)
    card = ModelCard(id="m", input_size=64, threshold=0.5, threshold_rule="test")
    card.orientation = data
    with pytest.raises(ScopeError, match="orientation check cannot be read"):
        ScopeGate.for_model(card)
    assert describe_orientation(data).startswith("unreadable")
    assert describe_orientation({}).startswith("none")


@pytest.mark.parametrize("upright,turned,kwargs,match", [
    (np.zeros((1, 4)), np.zeros((5, 4)), {}, "at least 2"),
    (np.zeros((5, 4)), np.zeros((5, 3)), {}, "differ in width"),
    (np.full((5, 4), np.nan), np.zeros((5, 4)), {}, "finite"),
    (np.zeros((5, 4)), np.zeros((5, 4)), {"components": 0}, "components"),
])
def test_bad_fit_input_gets_a_clear_message(upright, turned, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        fit_orientation(upright, turned, **kwargs)


def test_variants_turn_square_inputs_like_the_film() -> None:
    """Turning the square model input is turning the film: checked against numpy on a marked image."""
    x = np.zeros((2, 4, 4), np.float32)
    x[:, 0, 1] = 1.0  # a mark near the top-left
    turned = variants(x, TURNED)
    assert turned.shape == (8, 4, 4) and turned.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(turned[0], x[0, ::-1])  # mirrored top-bottom: the mark at the bottom
    np.testing.assert_array_equal(turned[4], np.rot90(x[0], 2))  # half a turn: bottom right
    assert turned[4][3, 2] == 1.0
    upright = variants(x, UPRIGHT)
    np.testing.assert_array_equal(upright[2], x[0, :, ::-1])


def test_masked_borders_cover_the_outer_band_only() -> None:
    x = np.full((3, 20, 20), 0.5, np.float32)
    out = masked_borders(x, np.random.default_rng(0), 1.0, low=0.1, high=0.3)
    assert out.shape == x.shape and np.all(x == 0.5)  # the input is left alone
    for img in out:
        k = int(np.argmax(img[10] != 1.0))  # band width on the middle row
        assert 2 <= k <= 6 and np.all(img[:k] == 1.0) and np.all(img[:, -k:] == 1.0)
        assert np.all(img[k:-k, k:-k] == 0.5)  # the middle is untouched
