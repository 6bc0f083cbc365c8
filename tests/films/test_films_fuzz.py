"""Seeded mutation fuzzing: damaged films must give a FilmError with a specific message, never a leak."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import uid

from xrayviewer.films import FilmError, load_film

from .testkit import encapsulate_frames, jpeg_bytes, make_dataset, save

MUTATIONS = 40


def _seeds(gray: np.ndarray, folder: Path) -> dict[str, bytes]:
    small = np.ascontiguousarray(gray[::4, ::4])
    png = BytesIO()
    Image.fromarray(small).save(png, "PNG")
    s12 = small.astype(np.uint16) * 16
    native = save(make_dataset(s12, bits_stored=12), folder / "n.dcm").read_bytes()
    ds = make_dataset(s12, bits_stored=12)
    ds.compress(uid.RLELossless)
    rle = save(ds, folder / "r.dcm").read_bytes()
    ds = make_dataset(s12, bits_stored=12)
    ds.compress(uid.JPEG2000Lossless)
    j2k = save(ds, folder / "j.dcm").read_bytes()
    jdcm = encapsulate_frames(make_dataset(small), [jpeg_bytes(small)], uid.JPEGBaseline8Bit)
    return {
        "jpeg": jpeg_bytes(small),
        "png": png.getvalue(),
        "native": native,
        "rle": rle,
        "j2k": j2k,
        "jpeg_dicom": save(jdcm, folder / "b.dcm").read_bytes(),
    }


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    op = int(rng.integers(0, 4))
    if op == 0:
        return bytes(buf[: int(rng.integers(1, len(buf)))])
    if op == 1:
        for _ in range(int(rng.integers(1, 8))):
            buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
    elif op == 2:
        pos = int(rng.integers(0, min(len(buf), 400)))
        buf[pos : pos + 4] = rng.bytes(4)
    else:
        pos = int(rng.integers(0, len(buf)))
        buf[pos:pos] = rng.bytes(int(rng.integers(1, 50)))
    return bytes(buf)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the damage it reads through
@pytest.mark.parametrize("kind", ["jpeg", "png", "native", "rle", "j2k", "jpeg_dicom"])
def test_mutated_films_fail_cleanly(kind: str, source_gray: np.ndarray, tmp_path: Path) -> None:
    data = _seeds(source_gray, tmp_path)[kind]
    rng = np.random.default_rng(sum(map(ord, kind)))
    path = tmp_path / "mutant"
    for i in range(MUTATIONS):
        path.write_bytes(_mutate(data, rng))
        for min_size in (None, 16):
            try:
                film = load_film(path, min_size=min_size)
            except FilmError as exc:
                message = str(exc)
                assert not message.startswith("could not decode"), (i, message)  # every failure is named
                assert message.isprintable() and len(message) < 150, (i, message)
            else:
                assert film.pixels.ndim == 2 and film.pixels.size > 0
