"""Films/s of `xrayviewer score --engine ray` against the local engine on this machine. Not a test.

    python bench/bench_ray.py                        # bundled model, 96 films, a local Ray on all cores
    python bench/bench_ray.py --films 400 --model other.onnx
    python bench/bench_ray.py --ray-address auto     # a running cluster (films must be on a shared path:
                                                     # --folder /shared/bench)

Films: copies of the 16 sample films (real pediatric chest X-rays, JPEG, about 1,000-2,000 px), written
once to a folder, so every run reads them from a warm page cache. Both engines go through the same
`score_rows` (the CLI's code path) and write nothing but count rows.

Printed:

* **local, 1 worker**: one single-threaded onnxruntime session decoding and scoring, and its **CPU ms
  per film** (process CPU time over films): 1000 / that is the per-core rate of an unloaded core, which
  the README's cluster estimate starts from (wall-clock films/s move with the load average, CPU time per
  film barely does);
* **local, all cores**: what `xrayviewer score` does by default;
* **ray init**: starting (or joining) Ray, once per command;
* **ray**: one job, actor start-up included.

Each run also gives its **first rows** time (start-up: for Ray, starting the actors, shipping the model and
scoring the first batch) and its **steady** rate: films/s from the first rows to the last, the rate a
long run converges to.

On a shared machine films/s moves with the load average (printed with each figure).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from xrayviewer.inference.scoring import default_workers  # noqa: E402
from xrayviewer.paths import default_model_path, samples_dir  # noqa: E402


def make_films(folder: Path, n: int) -> list[Path]:
    samples = sorted(samples_dir().glob("*.jpeg"))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = samples[i % len(samples)]
        dst = folder / f"{i:06d}-{src.name}"
        if not dst.exists():
            shutil.copy(src, dst)
        out.append(dst)
    return out


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def timed_run(paths: list[Path], base: Path, engine, *, workers: int | None, scorer=None) -> tuple[float, float, float]:
    """(seconds in all, seconds to the first rows, steady films/s after them)."""
    from xrayviewer.inference import batch
    from xrayviewer.scope import ScopeGate

    extra = {"scorer": scorer} if scorer is not None else {}
    start = time.perf_counter()
    n = 0
    first: tuple[float, int] | None = None
    for rows in batch.score_rows(paths, engine, base=base, batch_size=16, workers=workers,
                                 gate=ScopeGate.for_model(engine.card), **extra):
        n += len(rows)
        if first is None:
            first = (time.perf_counter() - start, n)
    total = time.perf_counter() - start
    assert n == len(paths) and first is not None, (n, len(paths))
    steady = (n - first[1]) / (total - first[0]) if total > first[0] else float("nan")
    return total, first[0], steady


def line(label: str, n: int, run: tuple[float, float, float], note: str = "") -> None:
    total, first, steady = run
    print(f"{label:<24} {n / total:7.1f} films/s  first rows after {first:5.1f} s, then {steady:7.1f} films/s"
          f"  ({n} films{note}; {load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--films", type=int, default=160, help="films per run (default 160: 10 batches of 16)")
    ap.add_argument("--model", type=Path, default=None, help="ONNX model (default: the bundled one)")
    ap.add_argument("--ray-address", default=None, help="auto or ray://HOST:10001 (default: a local Ray)")
    ap.add_argument("--folder", type=Path, default=None, help="where to write the films (default: a temp folder)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # not the scope gate's note once per run

    from xrayviewer.cluster.ray_engine import RayScorer, ray_session
    from xrayviewer.inference.engine import Engine

    model = args.model or default_model_path()
    tmp = None if args.folder else tempfile.mkdtemp(prefix="bench-ray-")
    folder = args.folder or Path(tmp or ".")
    try:
        paths = make_films(folder, args.films)
        engine = Engine(model, "cpu", threads=1)
        cores = default_workers()
        print(f"{len(paths)} films (copies of the 16 samples), model {engine.card.id}, {cores} cores here")
        timed_run(paths[:8], folder, engine, workers=1)  # warm-up: page cache, onnxruntime
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        run = timed_run(paths, folder, engine, workers=1)
        used = resource.getrusage(resource.RUSAGE_SELF)
        ms = 1000 * (used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime) / len(paths)
        line("local, 1 worker", len(paths), run, f", {ms:.1f} CPU ms per film = {1000 / ms:.0f} films/s per free core")
        line(f"local, {cores} workers", len(paths), timed_run(paths, folder, engine, workers=cores))

        start = time.perf_counter()
        with ray_session(args.ray_address):
            print(f"{'ray init':<24} {time.perf_counter() - start:7.1f} s        ({load()})")
            scorer = RayScorer(model, "cpu")
            run = timed_run(paths, folder, engine, workers=None, scorer=scorer)
            line("ray", len(paths), run, f", {scorer.describe()}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
