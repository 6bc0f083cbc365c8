"""The desktop app on a big study: first thumbnail, the GUI thread while scoring, memory, a cached reopen.
Not a test: it prints figures (the README's "Speed" section quotes them).

    python bench/bench_gui.py                  # 10,000 films, the bundled model, offscreen
    python bench/bench_gui.py --films 1000
    python bench/bench_gui.py --model other.onnx --size 512 --keep /tmp/study10k

What it does, on the real MainWindow (shown; QT_QPA_PLATFORM=offscreen unless a display is set):

1. makes a study of N distinct JPEG films (the 16 samples at --size px, each with its own few pixels changed so
   every file has its own hash), in a temporary folder;
2. opens it and measures the time to the first thumbnail painted (``ThumbnailLoader.ready``) and to every
   score shown;
3. while scoring, a 5 ms timer on the GUI thread records the longest gap between its ticks: the worst time
   the event loop was blocked (the window could not repaint or answer a key); opening the study (making
   the tiles, the first layout) is measured apart;
4. reports the resident memory once every film is scored (VmRSS, and the peak VmHWM);
5. closes the window and opens the same study in a new one with the same score cache: the time until every
   score is shown again.

On a shared machine the gaps grow with the load average (printed): the GUI thread is then waiting for a
core, not working. Two figures tell the two apart: the GUI thread's own CPU time inside the worst gap, and
the longest "busy spell" (the most GUI-thread CPU time between two ticks, wherever it happened): that one is
our code blocking the event loop, whatever the load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "")
if not os.environ["QT_QPA_PLATFORM"]:
    del os.environ["QT_QPA_PLATFORM"]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def make_study(folder: Path, n: int, size: int) -> list[Path]:
    """N distinct films: the samples at `size` px, each with a small patch set to its own index."""
    from xrayviewer.paths import samples_dir

    folder.mkdir(parents=True, exist_ok=True)
    bases = []
    for p in sorted(samples_dir().glob("*.jpeg")):
        img = Image.open(p).convert("L")
        img.thumbnail((size, size))
        bases.append(np.asarray(img))
    paths = []
    for i in range(n):
        arr = bases[i % len(bases)].copy()
        arr[:4, :4] = i % 251
        arr[4:8, :4] = (i // 251) % 251
        path = folder / f"film{i:05d}.jpeg"
        Image.fromarray(arr).save(path, quality=90)
        paths.append(path)
    return paths


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB (Linux)."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, kb = line.split(":")
                values[key] = int(kb.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def thread_cpu() -> float:
    return time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)


class GapMeter:
    """Longest gap between ticks of a short GUI-thread timer (and the GUI thread's CPU time within it)."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.gaps_over_50ms = 0
        self.busiest = 0.0  # the most GUI-thread CPU between two ticks: our own code blocking the loop
        self._last = 0.0
        self._last_cpu = 0.0

    def start(self) -> None:
        self._last, self._last_cpu = time.monotonic(), thread_cpu()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now, cpu = time.monotonic(), thread_cpu()
        gap = now - self._last - self.interval
        if gap > 0.05:
            self.gaps_over_50ms += 1
        if gap > self.worst:
            self.worst, self.worst_cpu = gap, cpu - self._last_cpu
        self.busiest = max(self.busiest, cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu


def wait_until(app: object, done: object, timeout: float) -> float:
    """Run the event loop until done() is true; returns seconds waited. Raises TimeoutError."""
    start = time.monotonic()
    while not done():  # type: ignore[operator]
        app.processEvents()  # type: ignore[attr-defined]
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not done after {timeout:.0f} s")
        time.sleep(0.001)  # the bench's own loop only; the app's work runs in its event handlers
    return time.monotonic() - start


def run(films: Path, model: Path, cache: Path, log: Path, settings: Path, timeout: float) -> dict[str, float]:
    from xrayviewer.gui.app import create_app
    from xrayviewer.gui.main_window import MainWindow
    from xrayviewer.review.session import RunState

    os.environ["XRAYVIEWER_SETTINGS"] = str(settings)
    app = create_app()
    w = MainWindow(model_path=model, log_path=log, cache_path=cache)
    w.resize(1366, 740)
    w.show()
    app.processEvents()  # type: ignore[attr-defined]
    first: list[float] = []
    w.thumbs.ready.connect(lambda _p: first.append(time.monotonic()) if not first else None)
    opening, meter = GapMeter(), GapMeter()
    t0 = time.monotonic()
    w.open_folder(films)
    opening.start()  # discovery, the 10,000 tiles, the first layout
    wait_until(app, lambda: w.worker is not None or w.run_state is RunState.DONE, timeout)
    opening.stop()
    meter.start()  # while scoring
    wait_until(app, lambda: w.run_state is RunState.DONE and w.worker is None, timeout)
    all_scored = time.monotonic() - t0
    meter.stop()
    wait_until(app, lambda: bool(first), timeout)
    rss, hwm = rss_mb()
    counts = w.model.counts()
    result = {"films": counts["total"], "scored": counts["scored"], "first_thumbnail_s": first[0] - t0,
              "all_scored_s": all_scored, "worst_gap_ms": meter.worst * 1000,
              "worst_gap_cpu_ms": meter.worst_cpu * 1000, "gaps_over_50ms": meter.gaps_over_50ms,
              "busiest_ms": meter.busiest * 1000, "opening_busiest_ms": opening.busiest * 1000, "rss_mb": rss,
              "peak_rss_mb": hwm}
    w.close()
    w.deleteLater()
    app.processEvents()  # type: ignore[attr-defined]

    w2 = MainWindow(model_path=model, log_path=log, cache_path=cache)
    w2.resize(1366, 740)
    w2.show()
    t1 = time.monotonic()
    w2.open_folder(films)
    wait_until(app, lambda: w2.run_state is RunState.DONE and w2.worker is None, timeout)
    result["reopen_all_scores_s"] = time.monotonic() - t1
    result["reopen_from_cache"] = w2._run_cached
    w2.close()
    return result


def main(argv: list[str] | None = None) -> int:
    from xrayviewer.paths import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--films", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=512, help="long edge of the generated films (px)")
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--keep", type=Path, default=None, help="make (or reuse) the study here and keep it")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    model = args.model or default_model_path()
    if model is None or not Path(model).is_file():
        print("no model: give --model PATH", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    try:
        films = args.keep or tmp / "study"
        if not (films.is_dir() and len(list(films.glob("*.jpeg"))) == args.films):
            t = time.monotonic()
            make_study(films, args.films, args.size)
            print(f"made {args.films} films of {args.size} px in {time.monotonic() - t:.0f} s", file=sys.stderr)
        r = run(films, Path(model), tmp / "scores.sqlite3", tmp / "log.sqlite3", tmp / "settings.ini",
                args.timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    print(f"xrayviewer GUI on {r['films']:.0f} films ({args.size} px JPEG), model {Path(model).name}, "
          f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"  first thumbnail after opening : {r['first_thumbnail_s']:.2f} s")
    rate = r["scored"] / r["all_scored_s"]
    print(f"  every film scored and shown   : {r['all_scored_s']:.1f} s ({rate:.0f} films/s)")
    print(f"  worst event-loop gap scoring  : {r['worst_gap_ms']:.0f} ms (GUI thread CPU in it: "
          f"{r['worst_gap_cpu_ms']:.0f} ms; {r['gaps_over_50ms']:.0f} gaps over 50 ms)")
    print(f"  longest GUI-thread busy spell : {r['busiest_ms']:.0f} ms of CPU between two ticks of the 5 ms timer "
          f"while scoring ({r['opening_busiest_ms']:.0f} ms while opening the study)")
    print(f"  resident memory, all scored   : {r['rss_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f} MB)")
    print(f"  reopen, every score shown     : {r['reopen_all_scores_s']:.2f} s "
          f"({r['reopen_from_cache']:.0f} from the score cache)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
