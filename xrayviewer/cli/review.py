"""`xrayviewer review export|stats`: the agreement log from the command line.

Exit codes (see :mod:`xrayviewer.cli.common`): 0 done; 2 the log or the CSV cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xrayviewer.cli.common import EXIT_OK, CommandError
from xrayviewer.review import ReviewError, default_log_path, export_review_csv
from xrayviewer.review.stats import format_stats, log_stats


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="export the agreement log or show agreement statistics")
    rsub = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    e = rsub.add_parser("export", help="one CSV row per film with its latest decision and the model's output")
    e.add_argument("--log", type=Path, default=None, help="agreement log (default: the user data directory)")
    e.add_argument("--csv", type=Path, required=True, help="output CSV")
    e.add_argument("--study", help="only this study folder")
    e.add_argument("--reviewer", help="only this reviewer")
    e.set_defaults(func=run_export)
    s = rsub.add_parser("stats", help="agreement rate, Cohen's kappa and confusion matrix per reviewer")
    s.add_argument("--log", type=Path, default=None, help="agreement log (default: the user data directory)")
    s.add_argument("--study", help="only this study folder")
    s.set_defaults(func=run_stats)


def run_export(args: argparse.Namespace) -> int:
    log = args.log or default_log_path()
    try:
        n = export_review_csv(log, args.csv, study=args.study, reviewer=args.reviewer)
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {n} rows to {args.csv}", file=sys.stderr)
    return EXIT_OK


def run_stats(args: argparse.Namespace) -> int:
    log = args.log or default_log_path()
    try:
        print(format_stats(log_stats(log, study=args.study)))
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    return EXIT_OK
