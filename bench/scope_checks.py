"""The scope gate's cheap image checks on real chest films: how close do they come to refusing one?

Prints, for every film in the training data (``manifest.csv``: train, val and sample splits) and the
bundled sample study, the distribution of each figure the checks look at, the thresholds, and the films
each check would refuse (expected: none). With ``--others DIR`` it also lists how the checks treat
non-chest images (each should be refused by something, or left to the OOD detector). Not a test: it
decodes ~5,000 films (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from xrayviewer.films import FilmError, discover_films, load_film
from xrayviewer.paths import samples_dir
from xrayviewer.scope import image as checks
from xrayviewer.scope.image import ImageStats, image_stats

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pediatric-cxr"
SIZE = 192  # decode as the scoring path does (reduced JPEG decoding for a 192 px model)


def _stats(path: Path) -> ImageStats:
    film = load_film(path, min_size=SIZE)
    return image_stats(film.pixels, film.original_size, film.colour)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA / "manifest.csv")
    ap.add_argument("--others", type=Path, help="a folder of non-chest images to show the checks on")
    args = ap.parse_args()

    with args.data.open(newline="", encoding="utf-8") as fh:
        paths = [args.data.parent / row["path"] for row in csv.DictReader(fh)]
    paths += discover_films(samples_dir())
    start = time.perf_counter()
    stats: list[tuple[Path, ImageStats]] = []
    for p in paths:
        try:
            stats.append((p, _stats(p)))
        except FilmError as exc:
            print(f"unreadable: {p}: {exc}")
    elapsed = time.perf_counter() - start
    print(f"{len(stats)} chest films ({args.data.parent.name} manifest + bundled samples), "
          f"{elapsed:.0f} s, {1000 * elapsed / max(1, len(stats)):.1f} ms per film (decode + checks)\n")

    figures = (
        ("spread", "min", checks.MIN_SPREAD),
        ("structure", "min", checks.MIN_STRUCTURE),
        ("colour", "max", checks.MAX_COLOUR),
        ("aspect", "max", checks.MAX_ASPECT),
        ("polarity", "min", checks.MAX_INVERSION),
    )
    print(f"{'figure':10s} {'refuses if':>11s} {'min':>8s} {'0.1%':>8s} {'1%':>8s} {'median':>8s} "
          f"{'99%':>8s} {'99.9%':>8s} {'max':>8s}  refused")
    for name, side, limit in figures:
        values = np.array([getattr(s, name) for _, s in stats])
        q = np.quantile(values, [0, 0.001, 0.01, 0.5, 0.99, 0.999, 1])
        refused = np.sum(values < limit) if side == "min" else np.sum(values > limit)
        cond = f"{'<' if side == 'min' else '>'} {limit:g}"
        print(f"{name:10s} {cond:>11s} " + " ".join(f"{v:8.3f}" for v in q) + f"  {refused}")
        worst = min(stats, key=lambda t: getattr(t[1], name)) if side == "min" else max(
            stats, key=lambda t: getattr(t[1], name))
        print(f"{'':10s} closest: {worst[0].name} ({getattr(worst[1], name):.3f})")
    refused_films = [(p, s.checks().reason_text) for p, s in stats if not s.checks().in_scope]
    print(f"\nchest films refused by the cheap checks: {len(refused_films)} of {len(stats)}")
    for p, why in refused_films:
        print(f"  {p}: {why}")

    if args.others:
        print(f"\nnon-chest images in {args.others}:")
        for p in sorted(q for q in args.others.iterdir() if q.is_file()):
            try:
                s = _stats(p)
            except FilmError as exc:
                print(f"  {p.name:32s} unreadable: {exc}")
                continue
            verdict = s.checks().reason_text or "(passes the cheap checks: left to the OOD detector)"
            print(f"  {p.name:32s} spread {s.spread:.3f} structure {s.structure:.2f} colour {s.colour:.2f} "
                  f"aspect {s.aspect:.1f} polarity {s.polarity:+.2f}: {verdict}")


if __name__ == "__main__":
    main()
