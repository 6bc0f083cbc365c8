"""Cheap image checks on real chest films (never refused) and on images no chest film looks like."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.films.testkit import make_dataset, sample_files, save
from tests.scope.conftest import skimage_image, write_jpeg, write_png
from xrayviewer.films import load_film
from xrayviewer.scope import ScopeGate, image_stats

SIZE = 192  # decode as the scoring path does


def _verdict(path: Path) -> str:
    film = load_film(path, min_size=SIZE)
    return ScopeGate().check_film(film).reason_text


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_bundled_chest_films_pass(path: Path) -> None:
    assert _verdict(path) == ""


def test_chest_film_in_other_containers_passes(tmp_path: Path, chest_gray: np.ndarray) -> None:
    rgb = np.repeat(chest_gray[..., None], 3, axis=2)
    cases = {
        "rgb.jpeg": write_jpeg(tmp_path / "rgb.jpeg", rgb),  # a grey film saved as a colour JPEG
        "rgb.png": write_png(tmp_path / "rgb.png", rgb),
        "16bit.png": write_png(tmp_path / "16bit.png", chest_gray.astype(np.uint16) * 257),
        "12bit.png": write_png(tmp_path / "12bit.png", chest_gray.astype(np.uint16) * 16),
        "12bit.dcm": save(make_dataset(chest_gray.astype(np.uint16) * 16, bits_stored=12), tmp_path / "12bit.dcm"),
        "mono1.dcm": save(make_dataset(255 - chest_gray, photometric="MONOCHROME1"), tmp_path / "mono1.dcm"),
        "wide.png": write_png(tmp_path / "wide.png", np.asarray(Image.fromarray(chest_gray).resize((600, 200)))),
    }
    for name, path in cases.items():
        assert _verdict(path) == "", name
    # without a size to reach, colour JPEGs are measured on a separate small decode: still grey
    assert load_film(cases["rgb.jpeg"]).colour == 0.0


@pytest.mark.parametrize(
    ("name", "make", "fragment"),
    [
        ("grey.png", lambda g: np.full((400, 400), 128, np.uint8), "blank or near-uniform"),
        ("black.png", lambda g: np.zeros((400, 400), np.uint8), "blank or near-uniform"),
        ("grey16.png", lambda g: np.full((400, 400), 1000, np.uint16) + (np.arange(400) % 3).astype(np.uint16),
         "blank or near-uniform"),
        ("noise.png", lambda g: np.random.default_rng(0).integers(0, 256, (400, 400), dtype=np.uint8),
         "no structure, like noise"),
        ("grey-noise.jpeg",
         lambda g: np.clip(128 + np.random.default_rng(1).normal(0, 6, (400, 400)), 0, 255).astype(np.uint8),
         "no structure, like noise"),
        ("inverted.png", lambda g: 255 - g, "inverted film"),
        ("strip.png", lambda g: np.asarray(Image.fromarray(g).resize((1000, 200))), "extreme aspect ratio 5.0:1"),
        ("tinted.png", lambda g: np.stack([g, (g * 0.6).astype(np.uint8), (g * 0.3).astype(np.uint8)], axis=2),
         "colour image"),
    ],
)
def test_made_images_are_refused(tmp_path: Path, chest_gray: np.ndarray, name: str, make, fragment: str) -> None:
    pixels = make(chest_gray)
    path = write_jpeg(tmp_path / name, pixels) if name.endswith(".jpeg") else write_png(tmp_path / name, pixels)
    assert fragment in _verdict(path)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "rocket", "retina", "immunohistochemistry"])
def test_colour_photographs_from_scikit_image_are_refused(tmp_path: Path, name: str) -> None:
    pixels = skimage_image(name)
    for path in (write_png(tmp_path / f"{name}.png", pixels), write_jpeg(tmp_path / f"{name}.jpeg", pixels)):
        film = load_film(path, min_size=SIZE)
        assert film.colour > 0.3, (path.name, film.colour)
        assert "colour image" in ScopeGate().check_film(film).reason_text


def test_scikit_learn_sample_photographs_are_refused(tmp_path: Path) -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    for i, pixels in enumerate(datasets.load_sample_images().images):
        assert "colour image" in _verdict(write_jpeg(tmp_path / f"photo{i}.jpeg", pixels))


def test_colour_dicom_photograph_is_refused(tmp_path: Path) -> None:
    ds = make_dataset(skimage_image("astronaut"), photometric="RGB", sop_class="1.2.840.10008.5.1.4.1.1.7",
                      Modality="DX")
    film = load_film(save(ds, tmp_path / "photo.dcm"), min_size=SIZE)
    assert film.colour > 0.3
    assert "colour image" in ScopeGate().check_film(film).reason_text


def test_grey_dicom_stored_as_rgb_passes(tmp_path: Path, chest_gray: np.ndarray) -> None:
    rgb = np.repeat(chest_gray[..., None], 3, axis=2)
    film = load_film(save(make_dataset(rgb, photometric="RGB"), tmp_path / "rgb.dcm"), min_size=SIZE)
    assert film.colour == 0.0 and ScopeGate().check_film(film).in_scope


def test_stats_are_what_the_checks_read(chest_gray: np.ndarray) -> None:
    stats = image_stats(chest_gray, (chest_gray.shape[1], chest_gray.shape[0]))
    assert stats.spread > 0.3 and stats.structure > 0.9 and stats.polarity > 0 and stats.colour == 0
    inverted = image_stats(255 - chest_gray, (chest_gray.shape[1], chest_gray.shape[0]))
    assert inverted.polarity == pytest.approx(-stats.polarity, abs=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        image_stats(np.zeros((4,), np.uint8), (4, 1))


def test_grey_non_chest_images_are_left_to_the_ood_detector(tmp_path: Path) -> None:
    """The cheap checks refuse only what no film can be: a grey photograph passes them (documented)."""
    film = load_film(write_png(tmp_path / "camera.png", skimage_image("camera")), min_size=SIZE)
    assert ScopeGate().check_film(film).in_scope
