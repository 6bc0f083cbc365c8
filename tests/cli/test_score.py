"""`xrayviewer score`: exit codes, CSV contract, heatmaps; in-process and once as a real subprocess."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xrayviewer.cli import main
from xrayviewer.inference.batch import COLUMNS
from xrayviewer.inference.heatmap_png import HEATMAP_LONG_EDGE
from xrayviewer.paths import default_model_path, samples_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def samples() -> list[Path]:
    films = sorted(samples_dir().glob("*.jpeg"))
    assert len(films) == 16
    return films


@pytest.fixture
def good_dir(tmp_path: Path, samples: list[Path]) -> Path:
    """The 16 samples, split over a nested folder so relative paths carry a `/`."""
    root = tmp_path / "study"
    (root / "normal").mkdir(parents=True)
    (root / "pneumonia").mkdir()
    for p in samples:
        shutil.copy(p, root / ("normal" if p.name.startswith("NORMAL") else "pneumonia") / p.name)
    return root


@pytest.fixture
def mixed_dir(good_dir: Path) -> Path:
    (good_dir / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 50)
    (good_dir / "pneumonia" / "empty.png").write_bytes(b"")
    (good_dir / "notes.txt").write_text("not a film")  # not a film suffix: never discovered
    return good_dir


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def score(*argv: object) -> int:
    return main(["score", *map(str, argv)])


def test_mixed_folder_exit_3(mixed_dir: Path, tmp_path: Path, tiny_model: Path, capsys) -> None:
    out = tmp_path / "out.csv"
    assert score(mixed_dir, "--csv", out, "--model", tiny_model, "--batch-size", 5) == 3
    rows = read_csv(out)
    assert len(rows) == 18
    paths = [r["path"] for r in rows]
    assert paths == sorted(paths)
    assert "normal/NORMAL2-IM-1427-0001.jpeg" in paths and "pneumonia/empty.png" in paths
    errors = {r["path"]: r for r in rows if r["status"] == "error"}
    assert set(errors) == {"broken.jpeg", "pneumonia/empty.png"}
    for r in errors.values():
        assert r["error"] and r["pneumonia_probability"] == "" and r["prediction"] == ""
    for r in rows:
        assert r["model_id"] == "tiny-test-model"
        assert r["threshold"] == "0.5"
        assert r["sha256"] == hashlib.sha256((mixed_dir / r["path"]).read_bytes()).hexdigest()
        if r["status"] == "ok":
            assert r["error"] == ""
            p = r["pneumonia_probability"]
            assert len(p.split(".")[1]) == 6 and 0.0 <= float(p) <= 1.0
            assert r["prediction"] == ("PNEUMONIA" if float(p) >= 0.5 else "NORMAL")
    err = capsys.readouterr().err
    assert "not a diagnosis" in err
    assert "scored 18 films: 16 ok, 2 errors" in err and "tiny-test-model on CPU" in err
    assert not list(tmp_path.glob(".out.csv.*"))  # no temp file left behind


def test_all_good_exit_0(good_dir: Path, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "good.csv"
    assert score(good_dir, "--csv", out, "--model", tiny_model, "-q") == 0
    rows = read_csv(out)
    assert len(rows) == 16 and all(r["status"] == "ok" for r in rows)


def test_single_file(samples: list[Path], tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "one.csv"
    assert score(samples[0], "--csv", out, "--model", tiny_model, "-q") == 0
    assert [r["path"] for r in read_csv(out)] == [samples[0].name]


def test_csv_replaced_atomically(good_dir: Path, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("old contents\n")
    assert score(good_dir, "--csv", out, "--model", tiny_model, "-q") == 0
    assert len(read_csv(out)) == 16


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems reject non-UTF-8 names")
def test_non_utf8_file_name(tmp_path: Path, samples: list[Path], tiny_model: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    name = os.fsdecode(b"caf\xe9-\xff.jpeg")  # Latin-1 bytes: not valid UTF-8
    try:
        shutil.copy(samples[0], root / name)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    out = tmp_path / "odd.csv"
    assert score(root, "--csv", out, "--model", tiny_model, "-q") == 0
    assert [r["path"] for r in read_csv(out)] == ["caf\\xe9-\\xff.jpeg"]


def test_ctrl_c_stops_cleanly(good_dir: Path, tmp_path: Path, tiny_model: Path, monkeypatch, capsys) -> None:
    from xrayviewer.inference import batch

    real = batch.score_rows

    def interrupted(*args, **kwargs):
        gen = real(*args, **kwargs)
        yield next(gen)  # one batch of 2 films reaches the CSV, then Ctrl-C
        gen.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "score_rows", interrupted)
    out = tmp_path / "out.csv"
    assert score(good_dir, "--csv", out, "--model", tiny_model, "--batch-size", 2) == 130
    err = capsys.readouterr().err
    assert "interrupted after 2 of 16 films" in err and "Traceback" not in err
    assert not out.exists()  # never a CSV that looks complete but is not
    assert len(read_csv(tmp_path / "out.csv.partial")) == 2
    assert not list(tmp_path.glob(".out.csv.*"))


def test_missing_model_exit_2(good_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.csv"
    assert score(good_dir, "--csv", out, "--model", tmp_path / "nope.onnx") == 2
    assert "model file not found" in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.csv.*"))


def test_bundled_model_missing_exit_2(good_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("XRAYVIEWER_HOME", str(home))
    assert score(good_dir, "--csv", tmp_path / "out.csv") == 2
    err = capsys.readouterr().err
    assert "bundled model is not installed" in err and "--model" in err
    assert "Traceback" not in err


def test_broken_model_exit_2(good_dir: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    assert score(good_dir, "--csv", tmp_path / "out.csv", "--model", bad) == 2
    err = capsys.readouterr().err
    assert "not a valid ONNX model" in err and "Traceback" not in err


@pytest.mark.skipif("CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
                    reason="this onnxruntime has CUDA")
def test_cuda_without_cuda_exit_2(good_dir: Path, tmp_path: Path, tiny_model: Path, capsys) -> None:
    assert score(good_dir, "--csv", tmp_path / "o.csv", "--model", tiny_model, "--provider", "cuda") == 2
    assert "--provider cpu" in capsys.readouterr().err


def test_missing_dir_exit_2(tmp_path: Path, tiny_model: Path, capsys) -> None:
    assert score(tmp_path / "nowhere", "--csv", tmp_path / "o.csv", "--model", tiny_model) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_no_films_exit_2(tmp_path: Path, tiny_model: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("hi")
    assert score(empty, "--csv", tmp_path / "o.csv", "--model", tiny_model) == 2
    assert "no films found" in capsys.readouterr().err


def test_csv_not_writable_exit_2(good_dir: Path, tmp_path: Path, tiny_model: Path, capsys) -> None:
    assert score(good_dir, "--csv", tmp_path / "no" / "such" / "o.csv", "--model", tiny_model) == 2
    assert "cannot write the CSV" in capsys.readouterr().err
    assert score(good_dir, "--csv", tmp_path, "--model", tiny_model) == 2  # a folder


def test_bad_batch_size_is_a_usage_error(good_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        score(good_dir, "--csv", tmp_path / "o.csv", "--batch-size", "0")
    assert exc.value.code == 2


def test_heatmaps(tmp_path: Path, tiny_model: Path, samples: list[Path]) -> None:
    root = tmp_path / "study"
    (root / "pneumonia").mkdir(parents=True)
    shutil.copy(samples[0], root / samples[0].name)
    shutil.copy(samples[-1], root / "pneumonia" / samples[-1].name)
    (root / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    heat = tmp_path / "heat"
    out = tmp_path / "out.csv"
    assert score(root, "--csv", out, "--model", tiny_model, "--heatmaps", heat, "-q") == 3
    pngs = sorted(p.relative_to(heat).as_posix() for p in heat.rglob("*.png"))
    # One per ok film, none for the broken one; the film's name is kept whole and `.png` appended.
    assert pngs == [f"{samples[0].name}.png", f"pneumonia/{samples[-1].name}.png"]
    for rel in pngs:
        with Image.open(root / rel.removesuffix(".png")) as film, Image.open(heat / rel) as png:
            w, h = film.size
            s = min(1.0, HEATMAP_LONG_EDGE / max(w, h))
            assert s < 1.0  # the samples are larger than the display size
            assert png.mode == "RGB"
            assert abs(png.size[0] - w * s) <= 1 and abs(png.size[1] - h * s) <= 1  # the film's shape
            assert "not a diagnosis" in png.text["Comment"]
            assert png.text["xrayviewer:model_id"] == "tiny-test-model"
    assert not list(heat.rglob(".*.tmp"))


def test_heatmaps_inside_dir_are_not_scored_next_time(tmp_path: Path, tiny_model: Path, samples: list[Path]) -> None:
    root = tmp_path / "study"
    root.mkdir()
    for p in samples[:2]:
        shutil.copy(p, root / p.name)
    for _ in range(2):
        assert score(root, "--csv", tmp_path / "o.csv", "--model", tiny_model, "--heatmaps", root / "heat", "-q") == 0
        assert len(read_csv(tmp_path / "o.csv")) == 2
    assert len(list((root / "heat").glob("*.png"))) == 2


def test_heatmap_matches_film_at_full_size(tmp_path: Path, tiny_model: Path) -> None:
    """Films no larger than the display size keep their exact size; the heatmap lines up with them."""
    film = np.full((300, 500), 20, np.uint8)
    film[:150, :250] = 235  # bright top-left: the tiny model's evidence is brightness
    root = tmp_path / "f"
    root.mkdir()
    Image.fromarray(film).save(root / "quad.png")
    heat = tmp_path / "heat"
    assert score(root, "--csv", tmp_path / "o.csv", "--model", tiny_model, "--heatmaps", heat, "-q") == 0
    rgb = np.asarray(Image.open(heat / "quad.png.png")).astype(np.float32)
    assert rgb.shape == (300, 500, 3)
    warmth = rgb[..., 0] - rgb[..., 2]
    assert warmth[:100, :180].mean() > 20 > warmth[200:, 320:].mean()


def test_subprocess_entry_point(mixed_dir: Path, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "sub.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "xrayviewer", "score", str(mixed_dir), "--csv", str(out),
         "--model", str(tiny_model)],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("not a diagnosis") == 1
    assert "scored 18 films: 16 ok, 2 errors" in proc.stderr
    assert len(read_csv(out)) == 18


@pytest.mark.skipif(not default_model_path().exists(), reason="the bundled model is not installed yet")
def test_bundled_model_separates_the_samples(good_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundled.csv"
    assert score(good_dir, "--csv", out, "-q") == 0
    rows = read_csv(out)
    prob = {Path(r["path"]).name: float(r["pneumonia_probability"]) for r in rows}
    pneumonia = [v for k, v in prob.items() if "_bacteria_" in k]
    normal = [v for k, v in prob.items() if k.startswith("NORMAL2-")]
    assert len(pneumonia) == len(normal) == 8
    assert np.mean(pneumonia) > np.mean(normal)
