"""Report assembly without running a model: split selection, training history, HTML escaping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xrayviewer.evaluation.page import render
from xrayviewer.evaluation.report import load_history, select_samples
from xrayviewer.training.datasets import load_dataset


def _manifest(tmp_path: Path) -> Path:
    rows = ["path,label,subtype,patient,split"]
    for i in range(6):
        rows.append(f"train/NORMAL/IM-{i:04d}-0001.jpeg,NORMAL,normal,IM-{i:04d},train")
    for i in range(4):
        rows.append(f"train/PNEUMONIA/person{i}_virus_{i}.jpeg,PNEUMONIA,virus,person{i},val")
    rows.append("test/NORMAL/IM-9999-0001.jpeg,NORMAL,normal,IM-9999,test")
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_split_selection_from_manifest(tmp_path: Path) -> None:
    ds = load_dataset(_manifest(tmp_path))
    assert {s.split for s in select_samples(ds, "val")} == {"val"}
    assert len(select_samples(ds, "val")) == 4
    assert len(select_samples(ds, "train")) == 6
    assert len(select_samples(ds, "test")) == 1
    assert len(select_samples(ds, "all")) == 11
    with pytest.raises(ValueError):
        select_samples(ds, "holdout")


def test_limit_is_a_seeded_subset_in_reader_order(tmp_path: Path) -> None:
    ds = load_dataset(_manifest(tmp_path))
    a, b = select_samples(ds, "all", limit=5), select_samples(ds, "all", limit=5)
    assert a == b and len(a) == 5
    order = [ds.samples.index(s) for s in a]
    assert order == sorted(order)
    assert select_samples(ds, "all", limit=50) == ds.samples


def test_load_history(tmp_path: Path) -> None:
    assert load_history(None)[0] is None
    rows, note = load_history(tmp_path)
    assert rows is None and "does not exist" in note
    (tmp_path / "history.json").write_text("{not json")
    assert load_history(tmp_path)[0] is None
    (tmp_path / "history.json").write_text(json.dumps([{"epoch": 1, "val_auc": 0.9}]))
    assert load_history(tmp_path) == ([{"epoch": 1, "val_auc": 0.9}], "")


def test_page_escapes_every_text() -> None:
    evil = '<script>alert("x")</script>'
    nan = float("nan")
    conf = {"threshold": 0.5, "tp": 1, "fp": 0, "tn": 1, "fn": 0, "n": 2, "sensitivity": 1.0,
            "sensitivity_ci95": (0.2, 1.0), "specificity": 1.0, "specificity_ci95": (0.2, 1.0),
            "accuracy": 1.0, "ppv": 1.0, "npv": 1.0}
    m = {
        "generated": "now", "xrayviewer_version": "0", "notice": "assistant & not a diagnosis",
        "model": {"id": evil, "file": "m.onnx", "input_size": 64, "threshold": 0.5, "threshold_rule": evil,
                  "val_metrics": {}},
        "data": {"source": evil, "split": "test", "limit": None, "selected": 2, "scored": 2, "unreadable": 1,
                 "selected_by_label": {}, "scored_by_subtype": {}},
        "roc_auc": 1.0, "roc_auc_ci95": (nan, nan), "average_precision": 1.0, "confusion": conf,
        "thresholds": [{"rule": evil, **conf}], "subtypes": [],
        "calibration": {"brier": 0.0, "ece": 0.0, "bins": 10},
        "unreadable": [{"path": evil, "error": evil}], "notes": [evil], "training": None,
    }
    html = render(m, figures={}, gallery=[], features=[])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "assistant &amp; not a diagnosis" in html
