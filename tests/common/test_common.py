"""common/: the vocabulary, the one confusion count, the one atomic write and the one path-to-text rule."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from xrayviewer.common.confusion import confusion_at, count_confusion
from xrayviewer.common.files import AtomicFile, atomic_write
from xrayviewer.common.text import format_or_na, path_text
from xrayviewer.common.vocab import LABELS, Label, Status


def test_labels_and_statuses_read_as_their_text() -> None:
    assert Label.NORMAL == "NORMAL" and Label.PNEUMONIA.opposite is Label.NORMAL
    assert [label.class_index for label in Label] == [0, 1] and Label.of_index(1) is Label.PNEUMONIA
    assert tuple(Label) == LABELS
    assert f"{Label.PNEUMONIA}" == str(Label.PNEUMONIA) == "PNEUMONIA"
    assert json.dumps([Status.OK, Label.NORMAL]) == '["ok", "NORMAL"]'
    out = io.StringIO()
    csv.writer(out).writerow([Status.ERROR, Label.NORMAL])
    assert out.getvalue().strip() == "error,NORMAL"
    assert {Label.NORMAL: 1}["NORMAL"] == 1 and {"ok": 2}[Status.OK] == 2  # hashes like its text
    assert f"{Status.OK:>4}" == "  ok"


def test_one_confusion_count() -> None:
    truth = [1, 1, 1, 0, 0, 0, 0]
    probs = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.5]
    c = confusion_at(truth, probs, 0.5)  # called when p >= threshold: 0.5 counts as positive
    assert (c.tp, c.fn, c.fp, c.tn) == (2, 1, 2, 2)
    assert c.n == 7 and c.n_positive == 3
    assert c.sensitivity == pytest.approx(2 / 3) and c.specificity == 0.5
    assert c.ppv == 0.5 and c.npv == pytest.approx(2 / 3) and c.accuracy == pytest.approx(4 / 7)
    assert c.matrix() == ((2, 2), (1, 2))  # rows truth N/P, columns call N/P
    empty = count_confusion(np.zeros(0, bool), np.zeros(0, bool))
    assert empty.n == 0 and math.isnan(empty.sensitivity) and math.isnan(empty.accuracy)
    with pytest.raises(ValueError):
        count_confusion([True], [True, False])


def test_path_text_never_raises() -> None:
    assert path_text("plain/é.jpeg") == "plain/é.jpeg"
    assert path_text(os.fsdecode(b"caf\xe9.jpeg")) == "caf\\xe9.jpeg"
    assert path_text("lone\ud800") == "lone\\ud800"
    assert path_text(Path("a") / "b") == os.path.join("a", "b")
    for text in (path_text(os.fsdecode(b"\xff\xfe")), path_text("x\udcff\ud800")):
        text.encode("utf-8")  # always encodable


def test_format_or_na() -> None:
    assert format_or_na(0.5, ".1%") == "50.0%"
    assert format_or_na(float("nan"), ".3f") == format_or_na(float("inf"), ".3f") == "n/a"
    assert format_or_na(None, ".3f") == "n/a"  # type: ignore[arg-type]


def test_atomic_write_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half")
        raise RuntimeError("crash halfway")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.csv"]
    with atomic_write(target) as f:
        f.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.csv"]
    with atomic_write(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_atomic_file_gets_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "p.txt") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.txt").stat().st_mode) == 0o644


def test_atomic_file_keep_as_and_clear_errors(tmp_path: Path) -> None:
    out = AtomicFile(tmp_path / "r.csv")
    out.file.write("rows so far")
    kept = out.abandon(keep_as=tmp_path / "r.csv.partial")
    assert kept == tmp_path / "r.csv.partial" and kept.read_text() == "rows so far"
    assert not (tmp_path / "r.csv").exists()
    with pytest.raises(IsADirectoryError):
        AtomicFile(tmp_path)
    with pytest.raises(FileNotFoundError):
        AtomicFile(tmp_path / "no" / "such.csv")
