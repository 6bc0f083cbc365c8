"""`xrayviewer evaluate --data SOURCE`: run the model on a labelled set and write an HTML report.

Runs through the runtime engine (no torch). Needs scikit-learn (the `report` extra).
Exit codes (see :mod:`xrayviewer.cli.common`): 0 report written; 3 report written but some films could not
be read (listed in it, left out of every number); 2 usage, model or data error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xrayviewer import NOTICE
from xrayviewer.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, CommandError, open_engine, positive_int
from xrayviewer.common.text import format_or_na

SPLITS = ("val", "test", "train", "all")



def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a model on a labelled set and write an HTML report",
        description="Score a labelled set with the model and write REPORT_DIR/index.html (ROC/PR, confusion "
                    "matrix, threshold trade-off, calibration, per-subtype results, training curves, "
                    "misclassified films with heat maps, feature maps) plus metrics.json and "
                    "predictions.csv. Needs scikit-learn: pip install 'xrayviewer[report]'. " + NOTICE,
    )
    p.add_argument("--model", type=Path, metavar="M.onnx", help="ONNX model (default: the bundled model)")
    p.add_argument("--data", type=Path, required=True, metavar="SOURCE",
                   help="manifest.csv, a Kaggle folder tree ({train,val,test}/{NORMAL,PNEUMONIA}) or a "
                        "Coronahack-style metadata CSV")
    p.add_argument("--images", type=Path, metavar="DIR", help="folder holding the films named in a metadata CSV")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="which films to evaluate (default: test if the data has a test split, else val)")
    p.add_argument("--run-dir", type=Path, metavar="RUNDIR",
                   help="training run folder; its history.json gives the training curves")
    p.add_argument("--out", type=Path, metavar="REPORT_DIR",
                   help="where to write the report (default: reports/<model id>-<split>)")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="evaluate a seeded random subset of N films (quick looks)")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to run the model (default: auto, CUDA when available)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar; errors and the summary only")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Evaluate; see the module docstring for exit codes."""
    print(NOTICE, file=sys.stderr)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("xrayviewer evaluate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _data_root(source: Path, images: Path | None) -> Path:
    """The folder film paths are shown relative to in the report."""
    if source.is_dir():
        return source
    return images if images is not None and source.suffix.lower() == ".csv" and images.is_dir() else source.parent


def _run(args: argparse.Namespace) -> int:
    from xrayviewer.evaluation.metrics import MissingDependency, require_sklearn

    try:
        require_sklearn()
    except MissingDependency as exc:
        raise CommandError(str(exc)) from None

    from tqdm import tqdm

    from xrayviewer.data.datasets import load_dataset
    from xrayviewer.evaluation.report import score_samples, select_samples, write_report

    if args.run_dir is not None and not args.run_dir.is_dir():
        raise CommandError(f"run folder not found: {args.run_dir}")
    if not args.data.exists():
        raise CommandError(f"data source not found: {args.data}")

    engine = open_engine(args.model, args.provider)

    try:
        dataset = load_dataset(args.data, args.images)
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the labelled data {args.data}: {exc}") from None
    split = args.split or ("test" if dataset.split("test") else "val")
    samples = select_samples(dataset, split, args.limit)
    if not samples:
        have = sorted({s.split for s in dataset.samples})
        raise CommandError(f"no films in split {split!r} of {dataset.description} "
                     f"(splits present: {', '.join(have) or 'none'}); choose one with --split")

    out_dir: Path = args.out or Path("reports") / f"{engine.card.id}-{split}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the report folder {out_dir}: {exc.strerror or exc}") from None

    print(f"evaluating {engine.card.id} on {len(samples)} {split} films from {dataset.description} "
          f"({engine.provider})", file=sys.stderr)
    bar = tqdm(total=len(samples), unit="film", file=sys.stderr, disable=args.quiet, mininterval=0.5,
               dynamic_ncols=True, desc="scoring")
    try:
        scored = score_samples(samples, engine, on_result=lambda _r: bar.update(1))
    finally:
        bar.close()
    failed = [s for s in scored if not s.ok]
    for s in failed[:10]:
        print(f"unreadable: {s.sample.path}: {s.error}", file=sys.stderr)
    if len(failed) > 10:
        print(f"... and {len(failed) - 10} more unreadable films (all listed in the report)", file=sys.stderr)
    if len(failed) == len(scored):
        raise CommandError(f"none of the {len(scored)} films could be read")

    try:
        result = write_report(out_dir, engine=engine, dataset=dataset, split=split, scored=scored,
                              data_root=_data_root(args.data, args.images), run_dir=args.run_dir,
                              limit=args.limit)
    except OSError as exc:
        raise CommandError(f"cannot write the report into {out_dir}: {exc.strerror or exc}") from None

    m = result.metrics
    c = m["confusion"]

    def f(v: float, pct: bool = False) -> str:
        return format_or_na(v, ".1%" if pct else ".3f")

    print(f"{split}: {result.n_scored} films ({result.n_failed} unreadable): AUC {f(m['roc_auc'])}, "
          f"accuracy {f(c['accuracy'], True)}, sensitivity {f(c['sensitivity'], True)}, "
          f"specificity {f(c['specificity'], True)} at threshold {c['threshold']:.4g}; "
          f"report: {result.index}")
    return EXIT_SOME_FAILED if result.n_failed else EXIT_OK
