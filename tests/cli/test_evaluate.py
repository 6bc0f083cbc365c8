"""`xrayviewer evaluate` end to end with the tiny model on the 16 sample films plus a corrupt one."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from tests.helpers.tiny_model import build_tiny_model
from xrayviewer.cli import main
from xrayviewer.paths import samples_dir

CORRUPT = "person9999_bacteria_1.jpeg"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # gain 40 spreads the tiny model's probabilities, so both kinds of error occur on the samples
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx", gain=40.0)


@pytest.fixture(scope="module")
def kaggle_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kaggle layout: test/NORMAL and test/PNEUMONIA with the bundled samples and one corrupt film."""
    root = tmp_path_factory.mktemp("kaggle")
    films = sorted(samples_dir().glob("*.jpeg"))
    assert len(films) == 16
    for f in films:
        label = "NORMAL" if f.name.startswith("NORMAL2-") else "PNEUMONIA"
        (root / "test" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / "test" / label / f.name)
    (root / "test" / "PNEUMONIA" / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 truncated" * 8)
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run")
    history = [{"epoch": e, "train_loss": 0.7 / e, "val_loss": 0.5 / e + 0.03 * e, "val_auc": 0.85 + 0.02 * e,
                "val_accuracy": 0.8, "val_sensitivity": 0.9, "val_specificity": 0.6 + 0.05 * e, "lr": 1e-4,
                "seconds": 60.0} for e in range(1, 5)]
    (d / "history.json").write_text(json.dumps(history))
    return d


@pytest.fixture(scope="module")
def report(tiny_model: Path, kaggle_tree: Path, run_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("report") / "report"
    rc = main(["evaluate", "--model", str(tiny_model), "--data", str(kaggle_tree), "--split", "test",
               "--run-dir", str(run_dir), "--out", str(out), "--provider", "cpu", "-q"])
    return rc, out


def _is_png(path: Path) -> bool:
    with Image.open(path) as img:
        img.verify()
        return img.format == "PNG"


def test_exit_code_3_and_corrupt_film_listed(report: tuple[int, Path]) -> None:
    rc, out = report
    assert rc == 3
    html = (out / "index.html").read_text(encoding="utf-8")
    assert CORRUPT in html and "Unreadable films (1)" in html
    m = json.loads((out / "metrics.json").read_text())
    assert [Path(u["path"]).name for u in m["unreadable"]] == [CORRUPT]
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    bad = [r for r in rows if r["status"] == "error"]
    assert len(rows) == 17 and [Path(r["path"]).name for r in bad] == [CORRUPT] and bad[0]["error"]


def test_every_referenced_image_is_a_real_png(report: tuple[int, Path]) -> None:
    _, out = report
    html = (out / "index.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', html)
    for name in ("roc.png", "pr.png", "calibration.png", "histogram.png", "training.png"):
        assert name in srcs
    assert any(s.startswith("gallery/") for s in srcs) and any(s.startswith("features/") for s in srcs)
    for src in srcs:
        assert not src.startswith(("/", "file:", "http")), "the report must be self-contained"
        path = out / src
        assert path.is_file(), src
        assert path.stat().st_size > 1500, f"{src} is suspiciously small"
        assert _is_png(path), src


def test_metrics_agree_with_predictions(report: tuple[int, Path]) -> None:
    _, out = report
    m = json.loads((out / "metrics.json").read_text())
    rows = [r for r in csv.DictReader((out / "predictions.csv").open()) if r["status"] == "ok"]
    c = m["confusion"]
    assert c["tp"] + c["fp"] + c["tn"] + c["fn"] == len(rows) == 16
    y = np.array([r["label"] == "PNEUMONIA" for r in rows], dtype=int)
    p = np.array([float(r["probability"]) for r in rows])
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert c["fp"] + c["fn"] == m["misclassified_total"] == sum(r["correct"] == "0" for r in rows)
    assert {s["subtype"] for s in m["subtypes"]} == {"normal", "bacteria"}
    assert m["model"]["id"] == "tiny-test-model" and m["training"]["epochs"] == 4


def test_header_carries_notice_and_card(report: tuple[int, Path]) -> None:
    from xrayviewer import NOTICE

    html = (report[1] / "index.html").read_text(encoding="utf-8")
    assert NOTICE.split(".")[0] in html and "tiny-test-model" in html and "fixed at 0.5 for tests" in html


def test_split_selection_with_manifest(tiny_model: Path, tmp_path: Path) -> None:
    """Only the chosen split's films are scored; a split the data lacks is a usage error."""
    films = sorted(samples_dir().glob("*.jpeg"))
    (tmp_path / "films").mkdir()
    rows = ["path,label,subtype,patient,split"]
    for i, f in enumerate(films[:4] + films[-4:]):
        shutil.copy(f, tmp_path / "films" / f.name)
        label = "NORMAL" if f.name.startswith("NORMAL2-") else "PNEUMONIA"
        rows.append(f"films/{f.name},{label},{'normal' if label == 'NORMAL' else 'bacteria'},p{i},"
                    f"{'val' if i % 2 else 'train'}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "report"
    rc = main(["evaluate", "--model", str(tiny_model), "--data", str(manifest), "--split", "val",
               "--out", str(out), "-q"])
    assert rc == 0
    got = list(csv.DictReader((out / "predictions.csv").open()))
    assert len(got) == 4 and {r["split"] for r in got} == {"val"}
    assert "no training curves" in (out / "index.html").read_text(encoding="utf-8").lower()
    assert main(["evaluate", "--model", str(tiny_model), "--data", str(manifest), "--split", "test",
                 "--out", str(out), "-q"]) == 2


@pytest.mark.parametrize("problem", ["model", "data", "run-dir"])
def test_usage_errors_exit_2(problem: str, tiny_model: Path, kaggle_tree: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    args = {"--model": str(tiny_model), "--data": str(kaggle_tree), "--out": str(tmp_path / "r")}
    if problem == "model":
        bad = tmp_path / "broken.onnx"
        bad.write_bytes(b"not onnx")
        args["--model"] = str(bad)
    elif problem == "data":
        args["--data"] = str(tmp_path / "missing.csv")
    else:
        args["--run-dir"] = str(tmp_path / "no-such-run")
    assert main(["evaluate", *[x for kv in args.items() for x in kv]]) == 2
    assert "error:" in capsys.readouterr().err


def test_missing_sklearn_is_a_clear_usage_error(tiny_model: Path, kaggle_tree: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # makes `import sklearn.metrics` fail
    rc = main(["evaluate", "--model", str(tiny_model), "--data", str(kaggle_tree), "--out", str(tmp_path)])
    assert rc == 2 and "pip install 'xrayviewer[report]'" in capsys.readouterr().err
