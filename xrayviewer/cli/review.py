"""`xrayviewer review export|stats|threshold`: the agreement log from the command line.

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
    e.add_argument("--csv", type=Path, help="output CSV")
    e.add_argument("--dicom-out", type=Path, metavar="DIR",
                   help="also (or instead) write each decision on a DICOM film as a DICOM SR naming the reader")
    e.add_argument("--study", help="only this study folder")
    e.add_argument("--reviewer", help="only this reviewer")
    e.set_defaults(func=run_export)
    s = rsub.add_parser("stats", help="agreement rate, Cohen's kappa and confusion matrix per reviewer")
    s.add_argument("--log", type=Path, default=None, help="agreement log (default: the user data directory)")
    s.add_argument("--study", help="only this study folder")
    s.add_argument("--model", type=Path, metavar="PATH",
                   help="model whose card the readers' labels are compared with (default: the bundled model)")
    s.set_defaults(func=run_stats)
    t = rsub.add_parser("threshold", help="site operating threshold: propose from the readers' labels, accept, "
                                          "revert (never changes the model file)")
    t.add_argument("--log", type=Path, default=None, help="agreement log (default: the user data directory)")
    t.add_argument("--model", type=Path, metavar="PATH", help="model (default: the bundled model)")
    act = t.add_mutually_exclusive_group()
    act.add_argument("--accept", action="store_true", help="accept the proposed threshold (needs --reviewer)")
    act.add_argument("--revert", action="store_true", help="go back to the model card's threshold (needs --reviewer)")
    t.add_argument("--reviewer", help="who accepts or reverts (recorded in the log)")
    t.set_defaults(func=run_threshold)


def run_export(args: argparse.Namespace) -> int:
    log = args.log or default_log_path()
    if args.csv is None and args.dicom_out is None:
        raise CommandError("give --csv OUT.csv, --dicom-out DIR or both")
    if args.csv is not None:
        try:
            n = export_review_csv(log, args.csv, study=args.study, reviewer=args.reviewer)
        except ReviewError as exc:
            raise CommandError(str(exc)) from None
        print(f"wrote {n} rows to {args.csv}", file=sys.stderr)
    if args.dicom_out is not None:
        from xrayviewer.cli.pacs import export_reader_srs

        return export_reader_srs(log, args.dicom_out, study=args.study, reviewer=args.reviewer)
    return EXIT_OK


def run_stats(args: argparse.Namespace) -> int:
    from xrayviewer.review import AgreementLog
    from xrayviewer.review.drift import drift_report, effective_threshold

    log = args.log or default_log_path()
    try:
        print(format_stats(log_stats(log, study=args.study)))
        try:
            card = _card(args.model)
        except CommandError as exc:
            print(f"\ndrift check skipped: {exc}")
            return EXIT_OK
        with AgreementLog(log, readonly=True) as opened:
            threshold, source = effective_threshold(card, opened)
            decisions = opened.latest(study=args.study)
        print()
        print("\n".join(drift_report(decisions, card, threshold, source).lines()))
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    return EXIT_OK


def _card(model: Path | None):  # noqa: ANN202 - ModelCard, imported lazily
    from xrayviewer.cli.common import open_engine

    return open_engine(model, "cpu", threads=1).card


def run_threshold(args: argparse.Namespace) -> int:
    from xrayviewer.review import AgreementLog
    from xrayviewer.review.drift import NotEnoughLabels, accept, effective_threshold, propose_site_threshold, revert

    if (args.accept or args.revert) and not (args.reviewer or "").strip():
        raise CommandError("--accept and --revert need --reviewer NAME (it is recorded in the log)")
    card = _card(args.model)
    log_path = args.log or default_log_path()
    try:
        with AgreementLog(log_path, readonly=not (args.accept or args.revert)) as log:
            threshold, source = effective_threshold(card, log)
            print(f"threshold in force for {card.id}: {threshold:.4f} ({source})")
            if args.revert:
                try:
                    revert(log, card.id, args.reviewer)
                except ValueError as exc:
                    raise CommandError(str(exc)) from None
                print(f"reverted: the model card's threshold {card.threshold:.4f} applies from now on")
                return EXIT_OK
            try:
                proposal = propose_site_threshold(log.latest(), card, threshold)
            except NotEnoughLabels as exc:
                raise CommandError(f"no proposal: {exc}") from None
            print(proposal.sentence())
            if args.accept:
                accept(log, proposal, args.reviewer)
                print(f"accepted by {args.reviewer}: {proposal.proposed:.4f} applies from now on in the app and "
                      "'xrayviewer score' (revert with --revert)")
            else:
                print("accept with: xrayviewer review threshold --accept --reviewer NAME")
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    return EXIT_OK
