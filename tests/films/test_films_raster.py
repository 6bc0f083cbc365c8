"""JPEG and PNG films: bit depths, colour modes, EXIF orientation, DCT draft scaling, multi-frame notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xrayviewer.films import load_film

from .testkit import correlation, jpeg_bytes


def _save(img: Image.Image, path: Path, fmt: str, **kw: object) -> Path:
    img.save(path, fmt, **kw)
    return path


def test_sample_films_load_as_8bit_gray(sample_paths: list[Path]) -> None:
    for path in sample_paths:
        film = load_film(path)
        with Image.open(path) as img:
            width, height = img.size
        assert film.format == "jpeg"
        assert film.pixels.dtype == np.uint8 and film.pixels.shape == (height, width)
        assert film.original_size == (width, height)
        assert film.meta == {} and film.window_presets == [] and film.modality is None
        assert len(film.sha256) == 64 and film.notes == []


def test_png_8bit_is_exact(source_gray: np.ndarray, tmp_path: Path) -> None:
    film = load_film(_save(Image.fromarray(source_gray), tmp_path / "a.png", "PNG"))
    assert film.format == "png"
    np.testing.assert_array_equal(film.pixels, source_gray)


def test_png_16bit_keeps_all_bits(source12: np.ndarray, tmp_path: Path) -> None:
    sixteen = source12 << 4
    path = _save(Image.fromarray(sixteen), tmp_path / "a16.png", "PNG")
    with Image.open(path) as img:
        assert img.mode.startswith("I")
    film = load_film(path)
    assert film.pixels.dtype == np.uint16
    np.testing.assert_array_equal(film.pixels, sixteen)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "1", "CMYK"])
def test_colour_modes_become_gray(mode: str, source_gray: np.ndarray, tmp_path: Path) -> None:
    rgb = np.stack(
        [source_gray, (source_gray * 0.9).astype(np.uint8), (source_gray * 0.7).astype(np.uint8)], -1
    )
    img = Image.fromarray(rgb).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    film = load_film(_save(img, tmp_path / f"c.{fmt.lower()}", fmt))
    assert film.pixels.ndim == 2 and film.pixels.dtype == np.uint8
    assert film.pixels.shape == source_gray.shape
    assert correlation(film.pixels, source_gray) > (0.8 if mode == "1" else 0.98)


def test_exif_orientation_is_applied(source_gray: np.ndarray, tmp_path: Path) -> None:
    # Orientation 6 = "rotate 90 degrees clockwise to display": store the film turned counter-clockwise.
    stored = np.ascontiguousarray(np.rot90(source_gray, 1))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg_bytes(stored, exif=exif.tobytes()))
    h, w = source_gray.shape
    film = load_film(path)
    assert film.pixels.shape == (h, w)
    assert film.original_size == (w, h)
    assert correlation(film.pixels, source_gray) > 0.98
    assert any("EXIF orientation" in n for n in film.notes)
    small = load_film(path, min_size=100)  # draft happens before the transpose
    assert small.pixels.shape == (h // 4, w // 4) or small.pixels.shape == (-(-h // 4), -(-w // 4))
    assert small.original_size == (w, h)
    assert correlation(small.pixels, source_gray) > 0.98


@pytest.fixture(scope="module")
def big_jpeg(sample_paths: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2000 x 1600 film, the size the throughput benchmark uses."""
    with Image.open(sample_paths[1]) as img:
        big = img.convert("L").resize((2000, 1600), Image.Resampling.BILINEAR)
    return _save(big, tmp_path_factory.mktemp("big") / "big.jpg", "JPEG", quality=90)


@pytest.mark.parametrize(("min_size", "expected"), [(448, (800, 1000)), (224, (400, 500)), (150, (200, 250))])
def test_draft_reduces_but_keeps_both_edges(big_jpeg: Path, min_size: int, expected: tuple[int, int]) -> None:
    full = load_film(big_jpeg)
    film = load_film(big_jpeg, min_size=min_size)
    assert film.pixels.shape == expected
    assert min(film.pixels.shape) >= min_size
    assert film.original_size == full.original_size == (2000, 1600)
    assert correlation(film.pixels, full.pixels) > 0.99


def test_min_size_larger_than_film_decodes_full(big_jpeg: Path) -> None:
    assert load_film(big_jpeg, min_size=5000).pixels.shape == (1600, 2000)


def test_animated_png_shows_first_frame(source_gray: np.ndarray, tmp_path: Path) -> None:
    frames = [
        Image.fromarray(source_gray),
        Image.fromarray(255 - source_gray),
        Image.fromarray(source_gray // 2),
    ]
    path = tmp_path / "anim.png"
    frames[0].save(path, "PNG", save_all=True, append_images=frames[1:], duration=100)
    film = load_film(path)
    np.testing.assert_array_equal(film.pixels, source_gray)
    assert film.notes == ["animated PNG: showing frame 1 of 3"]


def test_mpo_shows_first_picture(source_gray: np.ndarray, tmp_path: Path) -> None:
    rgb = [Image.fromarray(source_gray).convert("RGB"), Image.fromarray(255 - source_gray).convert("RGB")]
    path = tmp_path / "stereo.jpg"
    rgb[0].save(path, "MPO", save_all=True, append_images=rgb[1:], quality=95)
    film = load_film(path)
    assert film.format == "jpeg"
    assert correlation(film.pixels, source_gray) > 0.98
    assert film.notes == ["multi-picture JPEG (MPO): showing frame 1 of 2"]


def test_format_comes_from_bytes_not_name(source_gray: np.ndarray, tmp_path: Path) -> None:
    png_as_dcm = _save(Image.fromarray(source_gray), tmp_path / "really_png.dcm", "PNG")
    assert load_film(png_as_dcm).format == "png"
    jpeg_as_png = tmp_path / "really_jpeg.png"
    jpeg_as_png.write_bytes(jpeg_bytes(source_gray))
    assert load_film(jpeg_as_png).format == "jpeg"


def test_sha256_is_of_the_file_bytes(sample_paths: list[Path]) -> None:
    import hashlib

    assert load_film(sample_paths[0]).sha256 == hashlib.sha256(sample_paths[0].read_bytes()).hexdigest()


def test_concurrent_loads_match_sequential(sample_paths: list[Path]) -> None:
    """Scoring and thumbnails decode from thread pools: no shared state may leak between loads."""
    from concurrent.futures import ThreadPoolExecutor

    sequential = [load_film(p, min_size=224).pixels for p in sample_paths]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda p: load_film(p, min_size=224).pixels, sample_paths))
    for a, b in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(a, b)
