"""Acquisition-shift panel: how a model holds up when films come from another machine, year or PACS.

Not a test; it prints figures (and writes them as JSON with --json). Validation AUC says little about new
films (round 1: val AUC 0.996, specificity 99 %, yet 73 % specificity on the held-out films), so
candidates are compared on the val split as it is AND under shifts a different acquisition chain
introduces: exposure (gamma), flat contrast, vendor processing (histogram equalisation, edge
enhancement), heavy JPEG, resolution loss, blur, quantum noise, collimation borders, burnt-in text,
positioning (rotation, zoom, shift) and an "older machine" combination.

Each shift is applied to the film at a 256 px working resolution, which is then preprocessed to the
model's own input size exactly as the runtime does, so models of different input sizes see the same
shifted films. Shifts marked * are in no candidate's training augmentation (burnt-in text, the
combination, edge enhancement at this strength, zoom out): they are the panel's held-out part.

Figures per condition: AUC, sensitivity and specificity at the model card's threshold, and ECE. The
summary line gives mean and worst AUC and specificity over the shifted conditions and the worst
sensitivity: the numbers the bundled model was chosen by (README, "Why this model").
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from xrayviewer.films import load_film
from xrayviewer.inference.calibration import expected_calibration_error
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.preprocess import preprocess

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pediatric-cxr"
WORK = 256  # working resolution the shifts are applied at


def _pil(f: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(f, 0, 1) * 255).round().astype(np.uint8))


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, np.float32) / 255


def _rotate(f: np.ndarray, deg: float) -> np.ndarray:
    return _arr(_pil(f).rotate(deg, resample=Image.Resampling.BILINEAR, fillcolor=0))


def _zoom(f: np.ndarray, scale: float) -> np.ndarray:
    """scale > 1 crops the centre (zoom in); < 1 shrinks the film onto a black frame (zoom out)."""
    s = f.shape[0]
    if scale >= 1:
        c = int(round(s / scale))
        o = (s - c) // 2
        return _arr(_pil(f[o:o + c, o:o + c]).resize((s, s), Image.Resampling.BILINEAR))
    c = int(round(s * scale))
    small = _pil(f).resize((c, c), Image.Resampling.BILINEAR)
    out = Image.new("L", (s, s), 0)
    out.paste(small, ((s - c) // 2, (s - c) // 2))
    return _arr(out)


def _shift(f: np.ndarray, frac: float) -> np.ndarray:
    k = int(frac * f.shape[0])
    out = np.zeros_like(f)
    out[:, k:] = f[:, :-k]
    return out


def _jpeg(f: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    _pil(f).save(buf, format="JPEG", quality=quality)
    return _arr(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def _lowres(f: np.ndarray, factor: int) -> np.ndarray:
    s = f.shape[0]
    return _arr(_pil(f).resize((s // factor, s // factor), Image.Resampling.BOX).resize((s, s),
                                                                                         Image.Resampling.BILINEAR))


def _equalize(f: np.ndarray) -> np.ndarray:
    from PIL import ImageOps

    return _arr(ImageOps.equalize(_pil(f)))


def _unsharp(f: np.ndarray) -> np.ndarray:
    return _arr(_pil(f).filter(ImageFilter.UnsharpMask(radius=4, percent=200, threshold=0)))


def _blur(f: np.ndarray, radius: float) -> np.ndarray:
    return _arr(_pil(f).filter(ImageFilter.GaussianBlur(radius)))


def _border(f: np.ndarray, frac: float) -> np.ndarray:
    k = int(frac * f.shape[0])
    out = f.copy()
    out[:k], out[-k:], out[:, :k], out[:, -k:] = 0, 0, 0, 0
    return out


def _text(f: np.ndarray) -> np.ndarray:
    """Burnt-in annotations like a portable unit's: a side marker and a label line, white on the film."""
    img = _pil(f)
    d = ImageDraw.Draw(img)
    s = f.shape[0]
    try:
        font = ImageFont.load_default(size=max(10, s // 14))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    d.text((int(0.06 * s), int(0.06 * s)), "R", fill=255, font=font)
    d.text((int(0.45 * s), int(0.88 * s)), "PORTABLE AP SUPINE", fill=240, font=font)
    return _arr(img)


def _older_machine(f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g = np.clip(f, 0, 1) ** 1.3
    g = (g - g.mean()) * 0.8 + g.mean()
    g = _blur(np.clip(g, 0, 1), 1.0)
    return g + rng.normal(0, 0.03, g.shape).astype(np.float32)


Shift = Callable[[np.ndarray, np.random.Generator], np.ndarray]
PANEL: dict[str, Shift] = {
    "gamma 0.6 (over-exposed look)": lambda f, r: f ** 0.6,
    "gamma 1.6 (under-exposed look)": lambda f, r: f ** 1.6,
    "contrast x0.6 (flat film)": lambda f, r: (f - f.mean()) * 0.6 + f.mean(),
    "histogram equalised (vendor LUT)": lambda f, r: _equalize(f),
    "edge enhancement* (unsharp 200%)": lambda f, r: _unsharp(f),
    "JPEG quality 15": lambda f, r: _jpeg(f, 15),
    "resolution loss x4": lambda f, r: _lowres(f, 4),
    "blur (radius 2 px)": lambda f, r: _blur(f, 2.0),
    "noise (sd 0.05)": lambda f, r: f + r.normal(0, 0.05, f.shape).astype(np.float32),
    "collimation border 10%": lambda f, r: _border(f, 0.10),
    "burnt-in text*": lambda f, r: _text(f),
    "rotate +10 deg": lambda f, r: _rotate(f, 10),
    "zoom in 15%": lambda f, r: _zoom(f, 1.15),
    "zoom out 15%*": lambda f, r: _zoom(f, 0.87),
    "shift 10%": lambda f, r: _shift(f, 0.10),
    "older machine* (gamma, contrast, blur, noise)": _older_machine,
}


def _metrics(y: np.ndarray, p: np.ndarray, t: float) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    pred = p >= t
    return {"auc": float(roc_auc_score(y, p)), "sensitivity": float(pred[y].mean()),
            "specificity": float((~pred[~y]).mean()), "accuracy": float((pred == y).mean()),
            "ece": expected_calibration_error(y, p)}


def load_val(data: Path) -> tuple[list[np.ndarray], np.ndarray, list[dict[str, str]]]:
    rows = [r for r in csv.DictReader(data.open()) if r["split"] == "val"]
    films = [load_film(data.parent / r["path"], min_size=WORK).pixels for r in rows]
    return films, np.array([r["label"] == "PNEUMONIA" for r in rows]), rows


def _to_work(pixels: np.ndarray) -> np.ndarray:
    """The film squashed to the working square and min-max scaled, as `preprocess` does at model size."""
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32)).resize((WORK, WORK),
                                                                                 Image.Resampling.BILINEAR)
    a = np.asarray(img, np.float32)
    return (a - a.min()) / max(float(a.max() - a.min()), 1e-6)


def _score(engine: Engine, x: np.ndarray) -> np.ndarray:
    return np.concatenate([engine.run(x[i:i + 64]).probability for i in range(0, len(x), 64)])


def panel(model: Path, films: list[np.ndarray], y: np.ndarray, threshold: float | None = None) -> dict:
    engine = Engine(model, "cpu")
    s, t = engine.input_size, threshold if threshold is not None else engine.card.threshold
    work = [_to_work(f) for f in films]
    out: dict = {"model": engine.card.id, "threshold": t, "conditions": {}}
    exact = np.stack([preprocess(f, s) for f in films])  # the runtime path, untouched
    out["conditions"]["none"] = _metrics(y, _score(engine, exact), t)
    rng = np.random.default_rng(0)
    for name, fn in PANEL.items():
        x = np.stack([preprocess(np.clip(fn(f, rng), 0, 1).astype(np.float32), s) for f in work])
        out["conditions"][name] = _metrics(y, _score(engine, x), t)
    shifted = [v for k, v in out["conditions"].items() if k != "none"]
    out["summary"] = {
        "mean_auc": float(np.mean([v["auc"] for v in shifted])),
        "worst_auc": float(np.min([v["auc"] for v in shifted])),
        "mean_specificity": float(np.mean([v["specificity"] for v in shifted])),
        "worst_specificity": float(np.min([v["specificity"] for v in shifted])),
        "mean_sensitivity": float(np.mean([v["sensitivity"] for v in shifted])),
        "worst_sensitivity": float(np.min([v["sensitivity"] for v in shifted])),
        "mean_ece": float(np.mean([v["ece"] for v in shifted])),
    }
    return out


def _print(result: dict) -> None:
    print(f"\nmodel {result['model']}, threshold {result['threshold']:.4f}")
    print(f"{'condition':48s} {'AUC':>6s} {'sens':>6s} {'spec':>6s} {'acc':>6s} {'ECE':>6s}")
    for name, m in result["conditions"].items():
        print(f"{name:48s} {m['auc']:6.4f} {m['sensitivity']:6.3f} {m['specificity']:6.3f} "
              f"{m['accuracy']:6.3f} {m['ece']:6.3f}")
    s = result["summary"]
    print(f"{'shifted: mean / worst':48s} AUC {s['mean_auc']:.4f} / {s['worst_auc']:.4f}   "
          f"spec {s['mean_specificity']:.3f} / {s['worst_specificity']:.3f}   "
          f"sens {s['mean_sensitivity']:.3f} / {s['worst_sensitivity']:.3f}   ECE {s['mean_ece']:.3f}")


def main() -> None:
    from xrayviewer.paths import default_model_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", help="model(s) to compare (default: the bundled one)")
    ap.add_argument("--data", type=Path, default=DATA / "manifest.csv")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    models = args.model or [default_model_path()]
    films, y, _ = load_val(args.data)
    print(f"{len(films)} val films ({int(y.sum())} pneumonia); shifts applied at {WORK} px")
    results = []
    for m in models:
        results.append(panel(m, films, y))
        _print(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
