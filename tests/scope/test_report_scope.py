"""`xrayviewer evaluate` says what the scope gate is and how many of the evaluated films it would refuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.scope.embedding_model import build_embedding_model
from xrayviewer.cli import main
from xrayviewer.paths import samples_dir

pytest.importorskip("sklearn")
pytest.importorskip("skimage")


def test_report_gives_detector_cutoff_and_refusals(tmp_path: Path) -> None:
    model, detector = build_embedding_model(tmp_path / "emb.onnx")
    root = tmp_path / "kaggle"
    for f in sorted(samples_dir().glob("*.jpeg")):
        label = "NORMAL" if f.name.startswith("NORMAL2-") else "PNEUMONIA"
        (root / "test" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / "test" / label / f.name)
    from skimage import data

    Image.fromarray(np.asarray(data.coffee())).save(root / "test" / "NORMAL" / "coffee.png")
    out = tmp_path / "report"
    rc = main(["evaluate", "--model", str(model), "--data", str(root), "--split", "test", "--out", str(out),
               "--provider", "cpu", "-q"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["data"]["scored"] == 17  # the gate never withholds a film from the evaluation
    assert m["scope"]["films"] == 17 and m["scope"]["refused"] >= 1
    assert "colour image" in m["scope"]["reasons"]
    assert m["model"]["scope_gate"] == detector.describe()
    gate_line = m["model"]["scope_gate"]
    assert f"cut-off {detector.cutoff:.3g}" in gate_line and "validation films" in gate_line
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "scope gate on this set" in html and "pca-mahalanobis" in html
