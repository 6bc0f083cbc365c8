"""Heatmaps line up with the film and never exaggerate weak evidence."""

from __future__ import annotations

import numpy as np
import pytest

from xrayviewer.inference.heatmap import (
    COLORMAPS,
    cam_to_unit,
    colormap,
    logit,
    overlay,
    to_display_gray,
)


def _warmth(rgb: np.ndarray) -> float:
    """Red minus blue, averaged: grey pixels score 0, coloured evidence scores > 0."""
    rgb = rgb.astype(np.float32)
    return float((rgb[..., 0] - rgb[..., 2]).mean())


def test_cam_to_unit_positive_evidence_on_a_fixed_scale() -> None:
    cam = np.array([[-5.0, 0.0], [2.0, 10.0]])
    unit = cam_to_unit(cam, scale=4.0)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [[0.0, 0.0], [0.5, 1.0]])


def test_cam_to_unit_reference_is_the_threshold_logit() -> None:
    t = 0.3
    cam = np.array([logit(t), logit(t) + 2.0])
    np.testing.assert_allclose(cam_to_unit(cam, threshold=t, scale=4.0), [0.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(cam_to_unit(cam, reference=logit(t) + 2.0), [0.0, 0.0], atol=1e-6)


def test_weak_evidence_is_not_normalised_up() -> None:
    """A film whose strongest region is barely positive stays cold, unlike per-film max scaling."""
    weak = np.full((7, 7), -2.0)
    weak[3, 3] = 0.2
    assert cam_to_unit(weak).max() < 0.1
    assert cam_to_unit(weak, adaptive=True).max() < 0.1  # adaptive never lowers the scale


def test_adaptive_keeps_contrast_in_strong_films() -> None:
    strong = np.array([4.0, 8.0, 16.0])
    assert cam_to_unit(strong, scale=4.0).tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(cam_to_unit(strong, scale=4.0, adaptive=True), [0.25, 0.5, 1.0])


def test_non_finite_cam_is_cold() -> None:
    unit = cam_to_unit(np.array([np.nan, np.inf, -np.inf, 8.0]))
    assert unit.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_cam_to_unit_rejects_bad_scale() -> None:
    with pytest.raises(ValueError):
        cam_to_unit(np.zeros(3), scale=0)


def test_colormap_is_monotonic_in_lightness() -> None:
    rgb = colormap(np.linspace(0, 1, 256))
    assert rgb.shape == (256, 3) and rgb.dtype == np.uint8
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert (np.diff(luma) >= -0.5).all()
    assert tuple(rgb[0]) == (0, 0, 4) and tuple(rgb[-1]) == (252, 255, 164)  # inferno's ends
    assert colormap(np.array([[-1.0, 2.0, np.nan]])).shape == (1, 3, 3)
    assert set(COLORMAPS) >= {"inferno"}


def test_to_display_gray_keeps_the_films_windowing() -> None:
    """Films come display-ready: a dark film must stay dark, not be stretched to full contrast."""
    ramp = np.linspace(0, 1, 60).reshape(6, 10)
    np.testing.assert_array_equal(to_display_gray((ramp * 255).round().astype(np.uint8)),
                                  (ramp * 255).round().astype(np.uint8))
    u16 = to_display_gray((ramp * 65535).round().astype(np.uint16))
    assert u16.dtype == np.uint8 and u16.min() == 0 and u16.max() == 255
    dark = to_display_gray((ramp * 0.25).astype(np.float32))
    assert dark.max() == 64  # 0.25 of full scale, as the decoder windowed it
    dark16 = to_display_gray((ramp * 1000).astype(np.uint16))
    assert dark16.max() == 4


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float64])
def test_to_display_gray_stretches_what_is_not_display_ready(dtype) -> None:
    film = np.linspace(-1000, 3000, 60).reshape(6, 10).astype(dtype)
    gray = to_display_gray(film)
    assert gray.dtype == np.uint8 and gray.shape == (6, 10)
    assert gray.min() == 0 and gray.max() == 255
    assert not to_display_gray(np.full((4, 4), 7, dtype)).any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_overlay_has_the_film_size(dtype) -> None:
    film = (np.random.default_rng(0).random((301, 457)) * 200).astype(dtype)
    img = overlay(film, np.zeros((7, 7)))
    assert img.mode == "RGB"
    assert img.size == (457, 301)


def test_overlay_hot_top_left_is_warmer_there() -> None:
    """The CAM covers the whole (squashed) film, so its top-left cell maps to the film's top-left."""
    h, w = 600, 900  # not square: the CAM must be stretched, not letterboxed
    film = np.full((h, w), 100, np.uint8)
    cam = np.full((7, 7), -3.0)
    cam[0, 0] = 6.0
    rgb = np.asarray(overlay(film, cam))
    cell_h, cell_w = h // 7, w // 7
    top_left = rgb[: cell_h // 2, : cell_w // 2]
    bottom_right = rgb[-cell_h:, -cell_w:]
    assert _warmth(top_left) > 20
    assert _warmth(bottom_right) == pytest.approx(0.0, abs=0.5)
    # Evidence stays within roughly its own cell: two cells away it has faded out.
    assert _warmth(rgb[2 * cell_h : 3 * cell_h, 2 * cell_w : 3 * cell_w]) == pytest.approx(0.0, abs=0.5)


def test_overlay_without_evidence_shows_the_plain_film() -> None:
    film = np.random.default_rng(1).integers(0, 256, (64, 80), dtype=np.uint8)
    rgb = np.asarray(overlay(film, np.full((7, 7), -4.0)))
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], film)


def test_overlay_opacity_bounds() -> None:
    film = np.zeros((10, 10), np.uint8)
    assert np.asarray(overlay(film, np.full((2, 2), 9.0), opacity=0.0)).max() == 0
    with pytest.raises(ValueError):
        overlay(film, np.zeros((2, 2)), opacity=1.5)
    with pytest.raises(ValueError):
        overlay(film, np.zeros((2, 2, 2)))
