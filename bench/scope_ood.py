"""The scope gate's OOD detector on real films: false refusals of chest films, refusals of everything else.

Runs a model that has the ``embedding`` output (the runtime path: ``load_film`` -> ``preprocess`` ->
onnxruntime) over the training data's train and val splits and the bundled samples, and prints:

- the detector in the model card (if any): its cut-off and how many val films, sample films and val films
  under each acquisition shift of ``bench/robustness.py`` (exposure, contrast, vendor LUTs, JPEG,
  resolution, blur, noise, borders, text, rotation, zoom, shift, an older machine) it refuses: a real
  chest film from another site should not be refused, so these should stay near the val rate;
- a detector fitted here by ``fit_ood`` for each ``--margins`` value, with the same figures, so the
  margin can be chosen on evidence;
- with ``--others DIR``: the OOD score of every (non-chest) image in DIR and whether it is refused;
- the orientation check in the model card (if any): how many films of each set above it refuses (upright
  films should not be), and how many val films turned 90/180/270 degrees or mirrored top-bottom (all
  should be), through the runtime path (the decoded film is turned, then preprocessed).

Not a test: about 6,000 inferences (a few minutes on 2 CPU cores).

    python bench/scope_ood.py --model models/xrayviewer-pneumonia.onnx --others /path/to/non-chest
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from xrayviewer.films import FilmError, discover_films, load_film
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.paths import default_model_path, samples_dir
from xrayviewer.scope import OodDetector, OrientationCheck, evaluate_ood, fit_ood
from xrayviewer.scope.orientation import TURNED, UPRIGHT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robustness import PANEL, WORK, _to_work  # noqa: E402  (bench/ is not a package)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pediatric-cxr"


def _films(paths: list[Path], min_size: int) -> tuple[list[np.ndarray], list[Path]]:
    films, kept = [], []
    for p in paths:
        try:
            films.append(load_film(p, min_size=min_size).pixels)
            kept.append(p)
        except FilmError as exc:
            print(f"  skipped {p.name}: {exc}")
    return films, kept


def _images(engine: Engine, paths: list[Path]) -> tuple[np.ndarray, list[Path]]:
    """The runtime path: reduced decode for the model's size, then ``preprocess``."""
    size = engine.input_size
    films, kept = _films(paths, size)
    images = [preprocess(f, size) for f in films]
    return np.stack(images) if images else np.zeros((0, size, size), np.float32), kept


def _embed(engine: Engine, images: np.ndarray, batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch):
        pred = engine.run(images[i : i + batch])
        assert pred.embedding is not None
        out.append(pred.embedding)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _line(name: str, det: OodDetector, emb: np.ndarray) -> str:
    ev = evaluate_ood(det, emb)
    return f"    {name:32s} refused {ev.refused:4d} of {ev.n:4d} ({ev.rate:6.1%})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--data", type=Path, default=DATA / "manifest.csv")
    ap.add_argument("--others", type=Path, help="folder of non-chest images (each should be refused)")
    ap.add_argument("--margins", type=float, nargs="*", default=[1.0, 1.1, 1.2, 1.3])
    ap.add_argument("--no-perturbations", action="store_true", help="skip the shifted val films")
    args = ap.parse_args()

    engine = Engine(args.model, "cpu")
    if not engine.has_embedding:
        sys.exit(f"{args.model.name} has no 'embedding' output: re-export it with the current training code")
    with args.data.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    root = args.data.parent
    start = time.perf_counter()
    sets: dict[str, np.ndarray] = {}
    images: dict[str, np.ndarray] = {}
    for split in ("train", "val"):
        images[split], _ = _images(engine, [root / r["path"] for r in rows if r["split"] == split])
        sets[split] = _embed(engine, images[split])
    images["samples"], _ = _images(engine, discover_films(samples_dir()))
    sets["samples"] = _embed(engine, images["samples"])
    if not args.no_perturbations:  # shifts at robustness.py's working resolution, then the runtime path
        work = [_to_work(f) for f in _films([root / r["path"] for r in rows if r["split"] == "val"], WORK)[0]]
        rng = np.random.default_rng(0)
        size = engine.input_size
        for name, fn in PANEL.items():
            x = np.stack([preprocess(np.clip(fn(f, rng), 0, 1).astype(np.float32), size) for f in work])
            sets[f"val, {name}"] = _embed(engine, x)
    if engine.card.orientation:  # the runtime path: the decoded film turned, then preprocessed
        val_films = _films([root / r["path"] for r in rows if r["split"] == "val"], engine.input_size)[0]
        for name, fn in {**UPRIGHT, **TURNED}.items():
            if name != "as is":
                x = np.stack([preprocess(np.ascontiguousarray(fn(f)), engine.input_size) for f in val_films])
                sets[f"val, {name}"] = _embed(engine, x)
    others: list[Path] = []
    if args.others:
        x, others = _images(engine, sorted(p for p in args.others.iterdir() if p.is_file()))
        sets["others"] = _embed(engine, x)
    print(f"{engine.card.id}: embedding width {sets['train'].shape[1]}; {len(sets['train'])} train, "
          f"{len(sets['val'])} val films; {time.perf_counter() - start:.0f} s\n")

    detectors: list[tuple[str, OodDetector]] = []
    if engine.card.ood:
        detectors.append(("the model card's detector", OodDetector.from_dict(engine.card.ood)))
    for margin in args.margins:
        detectors.append((f"fit_ood here, margin {margin:g}", fit_ood(sets["train"], sets["val"], margin=margin)))
    for title, det in detectors:
        print(f"{title}: {det.describe()}")
        for name, emb in sets.items():
            if name not in ("train", "others"):
                print(_line(name, det, emb))
        if others:
            ev = evaluate_ood(det, sets["others"])
            print(f"    {'non-chest images':32s} refused {ev.refused:4d} of {ev.n:4d} ({ev.rate:6.1%})")
        print()
    if engine.card.orientation:
        check = OrientationCheck.from_dict(engine.card.orientation)
        print(f"the model card's {check.describe()}, cut-off {check.cutoff:g}:")
        for name, emb in sets.items():
            if name != "train":
                refused = int(np.sum(check.refuses(emb)))
                print(f"    {name:32s} refused {refused:4d} of {len(emb):4d} ({refused / max(1, len(emb)):6.1%})")
        print()
    if others:
        det = detectors[0][1]
        scores = det.score(sets["others"])
        print(f"non-chest images under {detectors[0][0]} (cut-off {det.cutoff:.2f}):")
        for p, s in sorted(zip(others, scores, strict=True), key=lambda t: t[1]):
            print(f"    {s:8.2f}  {'refused' if s > det.cutoff else 'PASSES '}  {p.name}")


if __name__ == "__main__":
    main()
