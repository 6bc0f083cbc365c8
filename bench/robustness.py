"""How the bundled model holds up when films differ from the training ones (prints figures, not a test).

The real test films differ from the training films (later labelling, another class mix), so val AUC says
little. This scores the val split as it is, per source (full-resolution originals vs 224 px squashed
copies), and under perturbations a different machine or technician might introduce: exposure (gamma),
contrast, rotation, zoom, blur and noise. A robust model keeps AUC and, above all, sensitivity at its
threshold.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from xrayviewer.films import load_film
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.paths import default_model_path
from xrayviewer.training.metrics import metrics_at

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pediatric-cxr"


def _pil(f: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(f, 0, 1) * 255).astype(np.uint8))


def _rotate(f: np.ndarray, deg: float) -> np.ndarray:
    return np.asarray(_pil(f).rotate(deg, resample=Image.Resampling.BILINEAR, fillcolor=0), np.float32) / 255


def _zoom(f: np.ndarray, scale: float) -> np.ndarray:
    s = f.shape[0]
    c = int(round(s / scale))
    o = (s - c) // 2
    return np.asarray(_pil(f[o:o + c, o:o + c]).resize((s, s), Image.Resampling.BILINEAR), np.float32) / 255


PERTURBATIONS = {
    "none": lambda f, r: f,
    "gamma 0.7 (darker mid-tones)": lambda f, r: f ** 0.7,
    "gamma 1.4 (brighter)": lambda f, r: f ** 1.4,
    "contrast x0.7": lambda f, r: (f - f.mean()) * 0.7 + f.mean(),
    "rotate +10 deg": lambda f, r: _rotate(f, 10),
    "zoom in 15%": lambda f, r: _zoom(f, 1.15),
    "blur (radius 1.5 px)": lambda f, r: np.asarray(_pil(f).filter(ImageFilter.GaussianBlur(1.5)), np.float32) / 255,
    "noise (sd 0.03)": lambda f, r: f + r.normal(0, 0.03, f.shape).astype(np.float32),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--data", type=Path, default=DATA / "manifest.csv")
    args = ap.parse_args()
    engine = Engine(args.model, "cpu")
    s, t = engine.input_size, engine.card.threshold
    rows = [r for r in csv.DictReader(args.data.open()) if r["split"] == "val"]
    films = np.stack([preprocess(load_film(args.data.parent / r["path"], min_size=s).pixels, s) for r in rows])
    y = np.array([r["label"] == "PNEUMONIA" for r in rows])
    source = np.array([r["source"] for r in rows])
    print(f"model {engine.card.id}, threshold {t:.4f}, {len(rows)} val films")
    print(f"{'condition':34s} {'AUC':>6s} {'acc':>6s} {'sens':>6s} {'spec':>6s}")
    rng = np.random.default_rng(0)
    for name, fn in PERTURBATIONS.items():
        x = np.stack([np.clip(fn(f, rng), 0, 1) for f in films]).astype(np.float32)
        x = np.stack([preprocess(f, s) for f in x])  # same min-max scaling the pipeline applies
        p = np.concatenate([engine.run(x[i:i + 32]).probability for i in range(0, len(x), 32)])
        m = metrics_at(y, p, t)
        print(f"{name:34s} {m.auc:6.4f} {m.accuracy:6.3f} {m.sensitivity:6.3f} {m.specificity:6.3f}")
        if name == "none":
            for src in ("original", "224px-copy"):
                k = source == src
                ms = metrics_at(y[k], p[k], t)
                print(f"  {'only ' + src + f' ({k.sum()})':32s} {ms.auc:6.4f} {ms.accuracy:6.3f} "
                      f"{ms.sensitivity:6.3f} {ms.specificity:6.3f}")


if __name__ == "__main__":
    main()
