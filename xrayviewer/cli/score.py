"""`xrayviewer score DIR --csv OUT.csv`: batch-score a folder of films into a CSV (and optional heatmaps).

A thin shell over :mod:`xrayviewer.inference.batch`: rows, the atomic CSV and the heat-map pool live
there. Exit codes (see :mod:`xrayviewer.cli.common`): 0 every film scored; 3 some films (or heatmaps)
could not be made, rows still written; 2 usage error or unusable model; 130 interrupted (the rows so far
are kept as OUT.csv.partial).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xrayviewer import NOTICE
from xrayviewer.cli import pacs as pacs_cli
from xrayviewer.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, CommandError, open_engine, positive_int
from xrayviewer.common.text import path_text
from xrayviewer.inference.heatmap_png import HEATMAP_LONG_EDGE

if TYPE_CHECKING:
    from xrayviewer.scope import ScopeGate

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "score",
        help="score a folder of films into a CSV",
        description="Score every film under DIR (recursively) and write one CSV row per film. " + NOTICE,
    )
    p.add_argument("dir", type=Path, metavar="DIR", nargs="?",
                   help="folder of films (searched recursively) or one film (or --pacs instead)")
    p.add_argument("--csv", type=Path, required=True, metavar="OUT.csv", help="where to write the results")
    p.add_argument("--model", type=Path, metavar="PATH", help="ONNX model (default: the bundled model)")
    p.add_argument(
        "--provider", choices=("auto", "cpu", "cuda"), default="auto",
        help="where to run the model (default: auto, CUDA when available)",
    )
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N", help="films per batch (16)")
    p.add_argument(
        "--workers", type=positive_int, default=None, metavar="N",
        help="worker threads, each decoding and scoring a batch (default: one per CPU core, at most 8)",
    )
    p.add_argument(
        "--heatmaps", type=Path, metavar="DIR",
        help=f"also write an evidence heatmap PNG per film (at most {HEATMAP_LONG_EDGE} px), mirroring DIR",
    )
    p.add_argument("--log", type=Path, metavar="PATH",
                   help="agreement log whose accepted site threshold applies (default: your agreement log, "
                        "when it exists); see 'xrayviewer review threshold'")
    p.add_argument("--no-site-threshold", action="store_true",
                   help="use the model card's threshold even when a site threshold is in force")
    p.add_argument("--no-scope-gate", action="store_true",
                   help="research use: give the model's call even for films the scope gate refuses (their "
                        "scope columns still say why); logged")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this machine (default); ray: a Ray cluster (needs the cluster extra; --workers "
                        "then sets the number of actors, default one per cluster CPU, or per GPU)")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="with --engine ray: 'auto' joins the cluster this machine belongs to (ray start), "
                        "ray://HOST:10001 connects as a Ray Client; default: start a local Ray here")
    p.add_argument("--parquet", type=Path, metavar="OUT.parquet",
                   help="also write the rows as Parquet once the run completes (needs the cluster extra)")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows OUT.csv already has for unchanged films (same path, content, model and "
                        "threshold) and score only the rest; rows are appended per batch, so a killed run "
                        "leaves a valid CSV to resume from")
    pacs_cli.add_score_arguments(p)  # --dicom-out, --pacs, --study, --since, --modality, --store-results
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary; errors only")
    p.set_defaults(func=run)
    return p


@contextlib.contextmanager
def _quiet_pydicom(verbose: bool) -> Iterator[None]:
    """A damaged DICOM already becomes an error row with a clear message; pydicom's own warnings about it
    would only break up the progress bar."""
    with warnings.catch_warnings():
        if not verbose:
            import pydicom  # noqa: F401  (imported first: its import sets its logger's level)

            warnings.filterwarnings("ignore", module=r"pydicom\b")
            logging.getLogger("pydicom").setLevel(logging.ERROR)
        yield


def _scope_gate(card: Any, *, enforce: bool) -> ScopeGate:
    """The model's scope gate; turning it off is said on stderr and in the log (research use only)."""
    from xrayviewer.scope import ScopeError, ScopeGate

    try:
        gate = ScopeGate.for_model(card, enforce=enforce)
    except ScopeError as exc:
        raise CommandError(str(exc)) from None
    if not enforce:
        message = ("--no-scope-gate: the scope gate is OFF; out-of-scope films get the model's call "
                   "(research use, not for reading films)")
        log.warning(message)
        print(f"warning: {message}", file=sys.stderr)
    else:
        log.info("%s", gate.describe())
    return gate


def _resume(args: argparse.Namespace, paths: list[Path], base: Path, engine: Any, check: Any,
            failures: tuple) -> Any:
    """``--resume``: keep the CSV's rows that still hold (see inference/resume.py); CommandError if it cannot."""
    from xrayviewer.inference.resume import ResumeError, prepare_resume

    try:
        return prepare_resume(args.csv, paths, base=base, model_id=engine.card.id, threshold=engine.threshold,
                              check=check)
    except ResumeError as exc:
        raise CommandError(f"cannot resume from {args.csv}: {exc}") from None
    except OSError as exc:
        raise CommandError(f"cannot resume from {args.csv}: {exc.strerror or exc}") from None
    except failures as exc:
        raise CommandError(str(exc)) from None


def _cannot_write(csv_path: Path, exc: OSError) -> CommandError:
    return CommandError(f"cannot write the CSV {csv_path}: {exc.strerror or exc}")


def run(args: argparse.Namespace) -> int:
    """Score films; see the module docstring for exit codes."""
    print(NOTICE, file=sys.stderr)
    with _quiet_pydicom(getattr(args, "verbose", False)), contextlib.ExitStack() as stack:
        return _run(args, stack)


def _engine_for(args: argparse.Namespace, engine: Any, stack: contextlib.ExitStack) -> tuple[Any, Any, Any, tuple]:
    """For ``--engine``: the batch scorer, the ``--resume`` hash check, the summary's "on ..." words (a
    callable, asked after the run) and the engine's own failure type. Connects to Ray for ``ray``."""
    from xrayviewer.inference.resume import same_content
    from xrayviewer.inference.scoring import score_batches

    if args.engine != "ray":
        return score_batches, same_content, lambda: engine.provider, ()
    from xrayviewer.cluster.ray_engine import ClusterError, RayScorer, ray_session, same_content_on_ray

    try:
        stack.enter_context(ray_session(args.ray_address))
    except ClusterError as exc:
        raise CommandError(str(exc)) from None
    scorer = RayScorer(engine.path, args.provider)
    return scorer, same_content_on_ray, scorer.describe, (ClusterError,)


def _run(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    from tqdm import tqdm

    from xrayviewer.inference import batch
    from xrayviewer.inference.heatmap_png import heatmap_path, write_heatmap
    from xrayviewer.inference.scoring import default_workers

    pacs_cli.check_score_arguments(args)
    root: Path = args.dir
    if args.ray_address and args.engine != "ray":
        raise CommandError("--ray-address needs --engine ray")
    if args.parquet is not None:
        from xrayviewer.cluster.parquet import PYARROW_MISSING, parquet_available

        if not parquet_available():
            raise CommandError(PYARROW_MISSING)
    fetched = pacs_cli.fetch_for_score(args, bool(args.quiet)) if args.pacs else None
    if fetched is not None:  # --pacs: the studies' films, fetched into the local cache
        paths, base = fetched.films, fetched.base
    else:
        if not root.exists():
            raise CommandError(f"no such file or folder: {root}")
        paths, base = batch.find_films(root, exclude=args.heatmaps)
        if not paths:
            raise CommandError(f"no films found in {root} "
                               "(looked for .jpg, .jpeg, .png, .dcm, .dicom and extensionless DICOM files)")
    heat_dir: Path | None = args.heatmaps
    if heat_dir is not None:
        try:
            heat_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create the heatmap folder {heat_dir}: {exc.strerror or exc}") from None
    # Single-threaded sessions, one run per worker: see score_batches for why.
    # With Ray the actors run the model where --provider says; here it only gives the card and settings.
    engine = open_engine(args.model, "cpu" if args.engine == "ray" else args.provider, threads=1)
    card = engine.card
    source = "model card"
    if not args.no_site_threshold:
        from xrayviewer.review.drift import threshold_from_log

        engine.threshold, source, warning = threshold_from_log(card, args.log)
        if warning:
            print(f"warning: {path_text(warning)}", file=sys.stderr)
    gate = _scope_gate(card, enforce=not args.no_scope_gate)
    workers = args.workers or default_workers()
    quiet = bool(args.quiet)
    scorer, check, where, failures = _engine_for(args, engine, stack)
    todo, resumed = paths, None
    if args.resume:
        resumed = _resume(args, paths, base, engine, check, failures)
        todo = resumed.todo
        if not quiet and (resumed.kept or resumed.dropped or resumed.notes):
            print(path_text(f"resuming {args.csv}: " + "; ".join([
                *resumed.notes, f"kept {resumed.kept} rows, dropped {resumed.dropped} (changed, deleted, "
                f"torn or scored otherwise), {len(todo)} films to score"])), file=sys.stderr)
    bar = tqdm(total=len(paths), initial=len(paths) - len(todo), unit="film", file=sys.stderr, disable=quiet,
               mininterval=0.5, dynamic_ncols=True, desc="scoring")

    def heatmap_failed(rel: str, exc: Exception) -> None:
        bar.write(f"warning: no heatmap for {rel}: {path_text(str(exc))}", file=sys.stderr)

    try:
        out = batch.RowWriter(args.csv, append=args.resume)
    except OSError as exc:
        bar.close()
        raise _cannot_write(args.csv, exc) from None
    tally = batch.Tally()
    cancel = threading.Event()
    dicom = pacs_cli.dicom_outputs(args, base, engine)

    def dicom_failed(rel: str, exc: Exception) -> None:
        bar.write(f"warning: no DICOM result for {rel}: {path_text(str(exc))}", file=sys.stderr)

    dicom_pool = stack.enter_context(batch.OutputPool(workers, on_error=dicom_failed, name="dicom"))
    with out, batch.OutputPool(workers, on_error=heatmap_failed, name="heatmap") as heatmaps:
        rows = batch.score_rows(  # a generator: closing it stops the scorer
            todo, engine, base=base, batch_size=args.batch_size, workers=args.workers,
            keep_cam=heat_dir is not None or dicom is not None, cancel=cancel, gate=gate, scorer=scorer)
        start = time.perf_counter()
        if fetched is not None and fetched.problems:  # instances the PACS could not give as films
            problems = pacs_cli.problem_rows(fetched, engine)
            out.write(problems)
            tally.add(problems)
            for row in problems:
                if not quiet:
                    bar.write(f"error: {row.path}: {row.error}", file=sys.stderr)
        try:
            for chunk in rows:
                out.write(chunk)
                tally.add(chunk)
                for row in chunk:
                    if not row.ok and not quiet:
                        bar.write(f"error: {row.path}: {row.error}", file=sys.stderr)
                    if heat_dir is not None and row.ok and row.result.cam is not None:
                        r = row.result
                        heatmaps.submit(row.path, write_heatmap, r.path, r.cam, heatmap_path(heat_dir, r.path, base),
                                        threshold=engine.threshold, sha256=r.sha256, probability=r.probability,
                                        model_id=card.id)
                    if dicom is not None and row.ok:
                        dicom_pool.submit(row.path, dicom.add, row.result)
                bar.update(len(chunk))
            heatmaps.settle()
            dicom_pool.settle()
        except KeyboardInterrupt:
            cancel.set()
            heatmaps.cancel()
            dicom_pool.cancel()
            rows.close()  # stops decoding: queued films are dropped, running ones finish
            bar.close()
            partial = out.keep_partial()
            print(f"xrayviewer score: interrupted after {tally.done} of {len(todo)} films; "
                  f"the rows so far are in {path_text(str(partial))} (--resume goes on from them)", file=sys.stderr)
            return EXIT_INTERRUPTED
        except failures as exc:  # the cluster failed (never a film: those are error rows)
            cancel.set()
            heatmaps.cancel()
            rows.close()
            partial = out.keep_partial()
            raise CommandError(f"{exc}; the rows so far are in {partial} (--resume goes on from them)") from None
        except OSError as exc:  # the CSV's disk filled up or went away
            cancel.set()
            rows.close()
            raise _cannot_write(args.csv, exc) from None
        finally:
            bar.close()
        elapsed = time.perf_counter() - start
        try:
            out.commit()
        except OSError as exc:
            raise _cannot_write(args.csv, exc) from None
    if args.parquet is not None:
        from xrayviewer.cluster.parquet import csv_to_parquet

        try:
            csv_to_parquet(args.csv, args.parquet)
        except OSError as exc:
            raise CommandError(f"cannot write the Parquet file {args.parquet}: {exc.strerror or exc}") from None

    dicom_phrases, store_problems = pacs_cli.finish_dicom(args, dicom) if dicom is not None else ([], 0)
    if not quiet:
        rate = tally.done / elapsed if elapsed > 0 else float("inf")
        summary = (
            f"scored {tally.done} films: {tally.ok} ok, {tally.errors} error{'s' if tally.errors != 1 else ''}, "
            f"{tally.out_of_scope} out of scope{' (judged anyway: scope gate off)' if not gate.enforce else ''}, "
            f"{tally.positive} PNEUMONIA at threshold {engine.threshold:g} ({source}) in {elapsed:.1f} s "
            f"({rate:.0f} films/s) "
            f"with model {card.id} on {where()}; wrote {args.csv}"
        )
        if resumed is not None and resumed.kept:
            summary += f" (with the {resumed.kept} rows kept from the earlier run)"
        if heat_dir is not None:
            summary += f"; {heatmaps.done} heatmaps in {heat_dir}"
        summary += "".join(f"; {phrase}" for phrase in dicom_phrases)
        print(path_text(summary), file=sys.stderr)
    errors = tally.errors + (resumed.kept_errors if resumed is not None else 0)
    if errors or heatmaps.failed or dicom_pool.failed or store_problems:
        if quiet:
            print(f"xrayviewer score: {errors} films could not be scored"
                  + (f", {heatmaps.failed} heatmaps failed" if heatmaps.failed else "")
                  + "; see the CSV's error column", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
