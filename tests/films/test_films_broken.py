"""Bad input never crashes: each broken file gives one FilmError whose message names the problem."""

from __future__ import annotations

import os
import struct
import sys
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xrayviewer.films import MAX_PIXELS, FilmError, load_film
from xrayviewer.films import limits as film_limits

from .testkit import jpeg_bytes


def _png(gray: np.ndarray) -> bytes:
    buf = BytesIO()
    Image.fromarray(gray).save(buf, "PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, followed by a tiny (and short) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_bomb(jpeg: bytes, width: int, height: int) -> bytes:
    """Patch the frame header of a real JPEG so it claims width x height."""
    pos = 2
    while jpeg[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    return jpeg[: pos + 5] + struct.pack(">HH", height, width) + jpeg[pos + 9 :]


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


# name -> (file name, bytes from (jpeg, png) of a real film, expected message start)
CORPUS: dict[str, tuple[str, Callable[[bytes, bytes], bytes], str | tuple[str, ...]]] = {
    "empty": ("empty.jpg", lambda j, p: b"", "not a readable image: file is empty (0 bytes)"),
    "truncated_jpeg": ("cut.jpg", lambda j, p: j[: len(j) // 2], "truncated JPEG: image data ends early"),
    "jpeg_without_end_marker": ("noeoi.jpeg", lambda j, p: j[:-2], "truncated JPEG: image data ends early"),
    "jpeg_cut_in_header": ("hdr.jpg", lambda j, p: j[:40], "truncated JPEG"),
    "jpeg_magic_only": ("magic.jpg", lambda j, p: j[:3], "corrupt JPEG: the file header is damaged"),
    "truncated_png": ("cut.png", lambda j, p: p[: len(p) // 2], "truncated PNG: image data ends early"),
    "png_bad_header_crc": ("crc.png", lambda j, p: _flip(p, 30), "corrupt PNG: the file header is damaged"),
    "png_damaged_data": (
        "data.png",
        lambda j, p: _flip(p, len(p) // 2),
        "corrupt PNG: image data is damaged",
    ),
    "random_bytes": (
        "noise.jpg",
        lambda j, p: np.random.default_rng(1).bytes(5000),
        "not a JPEG/PNG/DICOM image",
    ),
    "text_named_dcm": (
        "notes.dcm",
        lambda j, p: b"Patient notes\nnothing to see\n" * 20,
        "not a JPEG/PNG/DICOM image",
    ),
    "html_named_png": (
        "page.png",
        lambda j, p: b"<!DOCTYPE html><html><body>404</body></html>",
        "not a JPEG/PNG",
    ),
    "pdf_named_dcm": ("report.dcm", lambda j, p: b"%PDF-1.7\n" + bytes(200), "not a JPEG/PNG/DICOM image"),
    "tiff": (
        "film.tif",
        lambda j, p: b"II*\x00" + bytes(100),
        "not a JPEG/PNG/DICOM image (it looks like a TIFF image)",
    ),
    "png_bomb": (
        "bomb.png",
        lambda j, p: _png_bomb(100_000, 100_000),
        "image too large: 100000 x 100000 px exceeds the 100,000,000-pixel limit",
    ),
    "png_bomb_just_over": (
        "bomb2.png",
        lambda j, p: _png_bomb(10_001, 10_000),
        "image too large: 10001 x 10000 px exceeds the 100,000,000-pixel limit",
    ),
    "jpeg_bomb": (
        "bomb.jpg",
        lambda j, p: _jpeg_bomb(j, 65_000, 60_000),
        "image too large: 65000 x 60000 px exceeds the 100,000,000-pixel limit",
    ),
    "preamble_only_dicom": ("pre.dcm", lambda j, p: bytes(128) + b"DICM", "truncated DICOM"),
    "dicom_garbage_after_magic": (
        "garbage.dcm",
        lambda j, p: bytes(128) + b"DICM" + np.random.default_rng(2).bytes(3000),
        ("corrupt DICOM", "truncated DICOM"),  # garbage lengths run past the end: either is fair
    ),
}


@pytest.fixture(scope="module")
def real_bytes(source_gray: np.ndarray) -> tuple[bytes, bytes]:
    return jpeg_bytes(source_gray), _png(source_gray)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_file(name: str, real_bytes: tuple[bytes, bytes], tmp_path: Path) -> None:
    filename, make, expected = CORPUS[name]
    data = make(*real_bytes)
    path = tmp_path / filename
    path.write_bytes(data)
    with pytest.raises(FilmError) as info:
        load_film(path)
    message = str(info.value)
    assert message.startswith(expected), message
    assert "Traceback" not in message and "<_io" not in message and "\n" not in message
    assert info.value.sha256 is not None  # the bytes were read, so the film can still be identified


def test_film_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(FilmError("truncated PNG: image data ends early", sha256="ab" * 32)))
    assert str(error) == "truncated PNG: image data ends early" and error.sha256 == "ab" * 32


def test_max_pixels_is_documented_value() -> None:
    assert MAX_PIXELS == 100_000_000


def test_directory_named_like_a_film(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(FilmError, match=r"^not a film: this is a folder, not a file$") as info:
        load_film(tmp_path / "x.jpg")
    assert info.value.sha256 is None


def test_vanished_file(tmp_path: Path) -> None:
    with pytest.raises(FilmError, match=r"^file not found"):
        load_film(tmp_path / "gone.jpg")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_real(tmp_path: Path, source_gray: np.ndarray) -> None:
    path = tmp_path / "secret.jpg"
    path.write_bytes(jpeg_bytes(source_gray))
    path.chmod(0)
    try:
        with pytest.raises(FilmError, match=r"^permission denied"):
            load_film(path)
    finally:
        path.chmod(0o600)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs as root too, where chmod cannot deny: the OS error is simulated at the open call."""
    from xrayviewer.films import load as load_module

    path = tmp_path / "secret.jpg"
    path.write_bytes(b"\xff\xd8\xff")

    def deny(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(load_module.os, "open", deny)
    with pytest.raises(FilmError, match=r"^permission denied: this file cannot be read$"):
        load_film(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_named_like_a_film_does_not_hang(tmp_path: Path) -> None:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    with pytest.raises(FilmError, match=r"^not a film: not a regular file"):
        load_film(path)


def test_file_over_byte_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source_gray: np.ndarray
) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes(source_gray))
    monkeypatch.setattr(film_limits, "MAX_FILE_BYTES", 1024)
    with pytest.raises(FilmError, match=r"^file too large: .* exceeds the 1\.0 KiB limit$"):
        load_film(path)


def test_non_utf8_file_name(tmp_path: Path, source_gray: np.ndarray) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("file names must be valid Unicode on this platform")
    name = os.fsdecode(b"caf\xe9-\xff.jpg")  # latin-1 bytes: not UTF-8, decoded with surrogateescape
    path = tmp_path / name
    path.write_bytes(jpeg_bytes(source_gray))
    assert load_film(path).pixels.shape == source_gray.shape


def test_unexpected_decoder_failure_is_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source_gray: np.ndarray
) -> None:
    from xrayviewer.films import load as load_module

    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(source_gray))

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("<object at 0x7f> internal detail")

    monkeypatch.setattr(load_module, "decode_raster", explode)
    with pytest.raises(FilmError, match=r"^could not decode this image \(RuntimeError\)$"):
        load_film(path)


def test_memory_error_becomes_film_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xrayviewer.films import load as load_module

    path = tmp_path / "a.png"
    path.write_bytes(_png(np.zeros((4, 4), np.uint8)))

    def oom(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(load_module, "decode_raster", oom)
    with pytest.raises(FilmError, match=r"^not enough memory"):
        load_film(path)


def test_keyboard_interrupt_is_not_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xrayviewer.films import load as load_module

    path = tmp_path / "a.png"
    path.write_bytes(_png(np.zeros((4, 4), np.uint8)))

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(load_module, "decode_raster", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_film(path)
