"""`xrayviewer score DIR --csv OUT.csv`: batch-score a folder of films into a CSV (and optional heatmaps).

Exit codes: 0 every film scored; 3 some films (or heatmaps) could not be made, rows still written;
2 usage error or unusable model; 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import secrets
import sys
import threading
import time
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from xrayviewer import NOTICE
from xrayviewer.cli._args import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE
from xrayviewer.cli._args import positive_int as _positive_int

COLUMNS = (
    "path",
    "pneumonia_probability",
    "prediction",
    "threshold",
    "status",
    "error",
    "sha256",
    "model_id",
)

#: Heatmap PNGs are made at most this many pixels on the long edge: plenty to read, quick to write.
HEATMAP_LONG_EDGE = 1024




def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "score",
        help="score a folder of films into a CSV",
        description="Score every film under DIR (recursively) and write one CSV row per film. " + NOTICE,
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="folder of films (searched recursively) or one film")
    p.add_argument("--csv", type=Path, required=True, metavar="OUT.csv", help="where to write the results")
    p.add_argument("--model", type=Path, metavar="PATH", help="ONNX model (default: the bundled model)")
    p.add_argument(
        "--provider", choices=("auto", "cpu", "cuda"), default="auto",
        help="where to run the model (default: auto, CUDA when available)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=16, metavar="N", help="films per batch (16)")
    p.add_argument(
        "--workers", type=_positive_int, default=None, metavar="N",
        help="worker threads, each decoding and scoring a batch (default: one per CPU core, at most 8)",
    )
    p.add_argument(
        "--heatmaps", type=Path, metavar="DIR",
        help=f"also write an evidence heatmap PNG per film (at most {HEATMAP_LONG_EDGE} px), mirroring DIR",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary; errors only")
    p.set_defaults(func=run)
    return p


def clean_text(text: str) -> str:
    """Any str (file names with undecodable bytes included) -> printable UTF-8-safe text, never raising.

    Undecodable bytes (surrogate-escaped by the OS layer) come out as ``\\xNN``.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def relative_name(path: Path, base: Path) -> str:
    """Path relative to the scored folder, with `/` separators, safe for CSV and terminal."""
    try:
        rel = path.relative_to(base)
    except ValueError:
        rel = path
    return clean_text(rel.as_posix())


def _fail(message: str) -> int:
    print(f"xrayviewer score: error: {clean_text(message)}", file=sys.stderr)
    return EXIT_USAGE


def _heatmap_path(heat_dir: Path, path: Path, base: Path) -> Path:
    """Mirror the film's relative path and append `.png`.

    Appending (not replacing the suffix) keeps `a.jpeg` and `a.dcm` apart and leaves UID-named DICOMs
    such as `1.2.840.99` intact.
    """
    try:
        rel = path.relative_to(base)
    except ValueError:
        rel = Path(path.name)
    return heat_dir / rel.parent / (rel.name + ".png")


def write_heatmap(film_path: Path, cam, out_png: Path, *, threshold: float, sha256: str,
                  probability: float, model_id: str) -> None:
    """Decode the film at display size, lay its CAM over it and save a PNG atomically."""
    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from xrayviewer.films import FilmError, load_film
    from xrayviewer.inference.heatmap import overlay, to_display_gray

    film = load_film(film_path, min_size=HEATMAP_LONG_EDGE)
    if sha256 and film.sha256 != sha256:
        raise FilmError("the file changed while it was being scored")
    w, h = film.original_size
    s = min(1.0, HEATMAP_LONG_EDGE / max(w, h))
    size = (max(1, round(w * s)), max(1, round(h * s)))
    gray = to_display_gray(film.pixels)
    if (gray.shape[1], gray.shape[0]) != size:
        gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    img = overlay(gray, cam, threshold=threshold)
    info = PngInfo()
    info.add_text("Software", "xrayviewer")
    info.add_text("Comment", NOTICE)
    info.add_text("xrayviewer:model_id", model_id)
    info.add_text("xrayviewer:pneumonia_probability", f"{probability:.6f}")
    info.add_text("xrayviewer:threshold", f"{threshold:g}")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.name}.tmp")
    try:
        img.save(tmp, format="PNG", pnginfo=info, compress_level=1)  # ~25% faster than 3, files ~10% bigger
        os.replace(tmp, out_png)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Score films; see the module docstring for exit codes."""
    print(NOTICE, file=sys.stderr)
    leftovers: list[Path] = []  # temp files to remove however we leave
    try:
        with warnings.catch_warnings():
            if not getattr(args, "verbose", False):
                # A damaged DICOM already becomes an error row with a clear message; pydicom's own
                # warnings about it would only break up the progress bar.
                import pydicom  # noqa: F401  (imported first: its import sets its logger's level)

                warnings.filterwarnings("ignore", module=r"pydicom\b")
                logging.getLogger("pydicom").setLevel(logging.ERROR)
            return _run(args, leftovers)
    except KeyboardInterrupt:
        print("xrayviewer score: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        for path in leftovers:
            path.unlink(missing_ok=True)


def _open_temp_csv(csv_path: Path) -> tuple[int, Path]:
    """Create the temp file beside the CSV (same file system, so the final rename is atomic).

    Opened with O_EXCL rather than mkstemp so it gets the umask's permissions, like any file a user
    writes, instead of mkstemp's owner-only 0600.
    """
    if csv_path.is_dir():
        raise IsADirectoryError(21, "it is a folder")
    parent = csv_path.parent
    if not parent.is_dir():
        raise FileNotFoundError(2, f"folder {parent} does not exist")
    tmp = parent / f".{csv_path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return fd, tmp


def _run(args: argparse.Namespace, leftovers: list[Path]) -> int:
    """The body of `run`. Temp files it creates go into `leftovers` until they are renamed into place."""
    from tqdm import tqdm

    from xrayviewer.films import discover_films
    from xrayviewer.inference.engine import Engine, ModelError
    from xrayviewer.inference.scoring import default_workers, score_films
    from xrayviewer.paths import default_model_path, models_dir

    root: Path = args.dir
    if not root.exists():
        return _fail(f"no such file or folder: {root}")
    paths = discover_films(root)
    if args.heatmaps is not None and root.is_dir():
        # Heatmaps written inside DIR by an earlier run are not films to score.
        heat_real = args.heatmaps.resolve()
        paths = [p for p in paths if not p.resolve().is_relative_to(heat_real)]
    if not paths:
        return _fail(
            f"no films found in {root} "
            "(looked for .jpg, .jpeg, .png, .dcm, .dicom and extensionless DICOM files)"
        )
    base = root if root.is_dir() else root.parent

    try:
        fd, tmp_csv = _open_temp_csv(args.csv)
    except OSError as exc:
        return _fail(f"cannot write the CSV {args.csv}: {exc.strerror or exc}")
    leftovers.append(tmp_csv)
    fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
    try:
        heat_dir: Path | None = args.heatmaps
        if heat_dir is not None:
            try:
                heat_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                return _fail(f"cannot create the heatmap folder {heat_dir}: {exc.strerror or exc}")

        model_path = args.model
        if model_path is None:
            model_path = default_model_path()
            if not model_path.is_file():
                return _fail(
                    f"the bundled model is not installed (looked for *.onnx in {models_dir()}); "
                    "pass --model PATH to use another model"
                )
        try:
            # Single-threaded sessions, one run per worker: see score_films for why.
            engine = Engine(model_path, args.provider, threads=1)
        except ModelError as exc:
            return _fail(str(exc))

        card = engine.card
        quiet = bool(args.quiet)
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        n_ok = n_err = n_pos = n_heat = n_heat_err = 0
        cancel = threading.Event()
        heat_pool = ThreadPoolExecutor(max_workers=args.workers or default_workers(), thread_name_prefix="heatmap")
        heat_jobs: deque[tuple[str, Future[None]]] = deque()

        def settle_heatmaps(limit: int) -> None:
            nonlocal n_heat, n_heat_err
            while len(heat_jobs) > limit:
                rel, fut = heat_jobs.popleft()
                try:
                    fut.result()
                    n_heat += 1
                except Exception as exc:  # one bad heatmap never stops the run
                    n_heat_err += 1
                    bar.write(f"warning: no heatmap for {rel}: {clean_text(str(exc))}", file=sys.stderr)

        bar = tqdm(
            total=len(paths), unit="film", file=sys.stderr, disable=quiet, mininterval=0.5,
            dynamic_ncols=True, desc="scoring",
        )
        results = score_films(
            paths, engine, batch_size=args.batch_size, workers=args.workers, keep_cam=heat_dir is not None,
            cancel=cancel,
        )
        start = time.perf_counter()
        interrupted = False
        try:
            for r in results:
                rel = relative_name(r.path, base)
                if r.ok:
                    n_ok += 1
                    n_pos += r.prediction == "PNEUMONIA"
                    writer.writerow([
                        rel, f"{r.probability:.6f}", r.prediction, f"{r.threshold:g}", "ok", "",
                        r.sha256, card.id,
                    ])
                    if heat_dir is not None and r.cam is not None:
                        job = heat_pool.submit(
                            write_heatmap, r.path, r.cam, _heatmap_path(heat_dir, r.path, base),
                            threshold=card.threshold, sha256=r.sha256, probability=r.probability,
                            model_id=card.id,
                        )
                        heat_jobs.append((rel, job))
                        settle_heatmaps(limit=4 * (args.workers or default_workers()))
                else:
                    n_err += 1
                    error = clean_text(r.error) or "unknown error"
                    writer.writerow([rel, "", "", f"{card.threshold:g}", "error", error, r.sha256, card.id])
                    if not quiet:
                        bar.write(f"error: {rel}: {error}", file=sys.stderr)
                fh.flush()  # rows reach the temp file as they come, so a long run's work is never all in RAM
                bar.update(1)
            settle_heatmaps(limit=0)
        except KeyboardInterrupt:
            interrupted = True
            cancel.set()
            for _, fut in heat_jobs:
                fut.cancel()
            results.close()  # stops decoding: queued films are dropped, running ones finish
        except OSError as exc:  # the CSV's disk filled up or went away
            cancel.set()
            results.close()
            return _fail(f"cannot write the CSV {args.csv}: {exc.strerror or exc}")
        finally:
            heat_pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        elapsed = time.perf_counter() - start
        fh.close()

        done = n_ok + n_err
        if interrupted:
            partial = args.csv.with_name(args.csv.name + ".partial")
            os.replace(tmp_csv, partial)
            print(
                f"xrayviewer score: interrupted after {done} of {len(paths)} films; "
                f"the rows so far are in {clean_text(str(partial))}",
                file=sys.stderr,
            )
            leftovers.remove(tmp_csv)
            return EXIT_INTERRUPTED
        try:
            os.replace(tmp_csv, args.csv)
        except OSError as exc:
            return _fail(f"cannot write the CSV {args.csv}: {exc.strerror or exc}")
        leftovers.remove(tmp_csv)

        if not quiet:
            rate = done / elapsed if elapsed > 0 else float("inf")
            summary = (
                f"scored {done} films: {n_ok} ok, {n_err} error{'s' if n_err != 1 else ''}, "
                f"{n_pos} PNEUMONIA at threshold {card.threshold:g} in {elapsed:.1f} s ({rate:.0f} films/s) "
                f"with model {card.id} on {engine.provider}; wrote {args.csv}"
            )
            if heat_dir is not None:
                summary += f"; {n_heat} heatmaps in {heat_dir}"
            print(clean_text(summary), file=sys.stderr)
        if n_err or n_heat_err:
            if quiet:
                print(
                    f"xrayviewer score: {n_err} films could not be scored"
                    + (f", {n_heat_err} heatmaps failed" if n_heat_err else "")
                    + "; see the CSV's error column",
                    file=sys.stderr,
                )
            return EXIT_SOME_FAILED
        return EXIT_OK
    finally:
        if not fh.closed:
            fh.close()
