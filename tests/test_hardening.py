"""Hostile films in a folder of good ones, scored by the real CLI in a separate process.

A separate process, because the failures that matter here are the ones that kill it: a native decoder
that aborts, a Rust panic, a decompression bomb that eats memory. Every file must get a row, the good
ones must score, and each bad one must carry one readable message.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import uid

from tests.films.testkit import encapsulate_frames, make_dataset, save
from tests.helpers.tiny_model import build_tiny_model
from xrayviewer.paths import samples_dir


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def _hostile_corpus(root: Path) -> dict[str, str]:
    """Write the bad files; return {relative path: fragment its error message must contain}."""
    good = sorted(samples_dir().glob("*.jpeg"))[0].read_bytes()
    film = np.asarray(Image.open(io.BytesIO(good)).convert("L").resize((256, 200)))
    bad: dict[str, str] = {}

    def put(name: str, data: bytes, expect: str) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        bad[name] = expect

    put("bad/empty.jpeg", b"", "empty")
    put("bad/truncated.jpeg", good[: len(good) // 3], "truncated")
    put("bad/random.png", os.urandom(4096), "not a JPEG/PNG/DICOM")
    put("bad/text.dcm", b"hello, I am a text file\n" * 20, "not a JPEG/PNG/DICOM")
    put("bad/bomb.png", _png_header_only(100_000, 100_000), "too large")
    ds = make_dataset(film.astype(np.uint16) * 16, bits_stored=12)
    ds.Rows, ds.Columns = 60_000, 60_000
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    put("bad/huge-header.dcm", buf.getvalue(), "too large")
    ds = make_dataset(film.astype(np.uint16) * 16, bits_stored=12)
    save(ds, root / "tmp.dcm")
    data = (root / "tmp.dcm").read_bytes()
    (root / "tmp.dcm").unlink()
    put("bad/truncated.dcm", data[: len(data) - 40_000], "truncated")
    rle = make_dataset(film)
    encapsulate_frames(rle, [b"\x00" * 64 + os.urandom(512)], uid.RLELossless)
    buf = io.BytesIO()
    rle.save_as(buf, enforce_file_format=True)
    put("bad/corrupt-rle.dcm", buf.getvalue(), "")
    j2k = make_dataset(film)
    encapsulate_frames(j2k, [b"\xff\x4f\xff\x51" + os.urandom(300)], uid.JPEG2000Lossless)
    buf = io.BytesIO()
    j2k.save_as(buf, enforce_file_format=True)
    put("bad/corrupt-j2k.dcm", buf.getvalue(), "")
    sr = make_dataset(film, sop_class="1.2.840.10008.5.1.4.1.1.88.11")
    del sr.PixelData
    buf = io.BytesIO()
    sr.save_as(buf, enforce_file_format=True)
    put("bad/report.dcm", buf.getvalue(), "no image")
    tiny = io.BytesIO()
    Image.new("L", (1, 1)).save(tiny, "PNG")
    put("bad/one-pixel.png", tiny.getvalue(), "too small")
    (root / "bad" / "folder.jpg").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "bad" / "pipe.dcm")
    return bad


def test_hostile_films_never_stop_the_run(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    goods = sorted(samples_dir().glob("*.jpeg"))[:4]
    for p in goods:
        shutil.copy(p, study / p.name)
    bad = _hostile_corpus(study)
    model = build_tiny_model(tmp_path / "tiny.onnx")
    out = tmp_path / "scores.csv"
    env = {**os.environ, "XRAYVIEWER_LOG_DIR": str(tmp_path / "log")}
    proc = subprocess.run([sys.executable, "-m", "xrayviewer", "score", str(study), "--csv", str(out),
                           "--model", str(model), "--quiet"], capture_output=True, text=True, timeout=240,
                          env=env)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = {r["path"]: r for r in csv.DictReader(out.open(newline="", encoding="utf-8"))}
    for p in goods:
        assert rows[p.name]["status"] == "ok"
    for name, fragment in bad.items():
        row = rows[name]
        assert row["status"] == "error", name
        message = row["error"]
        assert message and "Traceback" not in message and "<_io." not in message, (name, message)
        assert fragment.lower() in message.lower(), (name, message)
        assert len(row["sha256"]) == 64, (name, row["sha256"])
    assert not (study / "bad" / "folder.jpg").is_file()
