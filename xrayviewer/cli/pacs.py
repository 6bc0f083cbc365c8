"""`xrayviewer pacs search`: list studies on a PACS over DICOMweb (QIDO-RS).

The PACS is a URL or a server name from the PACS config; its credentials come from the config file or
the environment only (see :mod:`xrayviewer.pacs.config`). Patient names and IDs are left out unless
``--show-patient`` asks for them. Exit codes: 0 done, 2 the PACS could not be used (one line says why).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from xrayviewer.cli.common import CommandError, positive_int


def yyyymmdd(text: str) -> str:
    """argparse type: a calendar date as YYYYMMDD."""
    try:
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date as YYYYMMDD: {text!r}") from None
    return text


def modality_list(text: str) -> list[str]:
    """argparse type: ``CR,DX`` -> ["CR", "DX"]."""
    items = [m.strip().upper() for m in text.split(",") if m.strip()]
    if not items or not all(m.isalnum() and len(m) <= 16 for m in items):
        raise argparse.ArgumentTypeError(f"not a list of modalities like CR,DX: {text!r}")
    return items


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("pacs", help="look at studies on a PACS over DICOMweb")
    psub = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    s = psub.add_parser(
        "search", help="list studies (QIDO-RS)",
        description="List studies on a DICOMweb PACS, newest first. Credentials come from the PACS config "
                    "file or the XRAYVIEWER_PACS_* environment variables, never the command line.",
    )
    s.add_argument("url", nargs="?", metavar="URL",
                   help="DICOMweb base URL or a server name from the PACS config (default: the configured one)")
    s.add_argument("--modality", type=modality_list, default=[], metavar="CR,DX", help="only these modalities")
    s.add_argument("--since", type=yyyymmdd, default=None, metavar="YYYYMMDD", help="only studies from this date on")
    s.add_argument("--study", default="", metavar="UID", help="only this Study Instance UID")
    s.add_argument("--limit", type=positive_int, default=500, metavar="N", help="at most N studies per query (500)")
    s.add_argument("--show-patient", action="store_true", help="also print patient name and ID (patient data)")
    s.set_defaults(func=run_search)
    return p


def run_search(args: argparse.Namespace) -> int:
    from xrayviewer.pacs import PacsClient, PacsError, load_config

    try:
        config = load_config(args.url)
        with PacsClient(config) as client:
            studies = client.search_studies(modalities=args.modality, since=args.since or "", study_uid=args.study,
                                            limit=args.limit)
    except PacsError as exc:
        raise CommandError(str(exc)) from None
    columns = ["date", "modalities", "instances", "study_uid", "description"]
    if args.show_patient:
        columns += ["patient_id", "patient_name"]
    print("\t".join(columns))
    for st in studies:
        cells = [st.date, ",".join(st.modalities), "" if st.instances is None else str(st.instances), st.study_uid,
                 st.description]
        if args.show_patient:
            cells += [st.patient_id, st.patient_name]
        print("\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells))
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {config.url}", file=sys.stderr)
    return 0


# `xrayviewer score --pacs ... [--store-results]` and `--dicom-out`: the PACS and DICOM parts of scoring ----------

def add_score_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``xrayviewer score`` takes for DICOM results and the PACS."""
    p.add_argument("--dicom-out", type=Path, metavar="DIR2",
                   help="also write a DICOM Structured Report and a heat-map Secondary Capture per DICOM film, "
                        "mirroring DIR (FILM.sr.dcm, FILM.sc.dcm)")
    p.add_argument("--pacs", metavar="URL",
                   help="score studies from this DICOMweb PACS (URL or configured server name) instead of DIR; "
                        "with --study or --since")
    p.add_argument("--study", default="", metavar="UID", help="with --pacs: the Study Instance UID to score")
    p.add_argument("--since", type=yyyymmdd, default=None, metavar="YYYYMMDD",
                   help="with --pacs: every study from this date on")
    p.add_argument("--modality", type=modality_list, default=[], metavar="CR,DX",
                   help="with --pacs --since: only these modalities")
    p.add_argument("--store-results", action="store_true",
                   help="with --pacs: store the SR and Secondary Capture of each film back in its study (STOW-RS); "
                        "a study is stored only when all of its results are valid")


def check_score_arguments(args: argparse.Namespace) -> None:
    """CommandError for option combinations that cannot work, before anything is done."""
    if args.pacs is None:
        if args.dir is None:
            raise CommandError("give a folder of films (DIR) or a PACS (--pacs URL with --study or --since)")
        for option, value in (("--study", args.study), ("--since", args.since), ("--modality", args.modality),
                              ("--store-results", args.store_results)):
            if value:
                raise CommandError(f"{option} needs --pacs")
        return
    if args.dir is not None:
        raise CommandError("give either a folder (DIR) or --pacs, not both")
    if bool(args.study) == bool(args.since):
        raise CommandError("--pacs needs exactly one of --study UID or --since YYYYMMDD")
    if args.modality and args.study:
        raise CommandError("--modality goes with --since, not --study")


def fetch_for_score(args: argparse.Namespace, quiet: bool) -> Any:
    """Fetch the studies ``--pacs`` asks for into the cache; CommandError when the PACS cannot be used."""
    from xrayviewer.pacs import PacsClient, PacsError, StudyCache, load_config
    from xrayviewer.pacs.scoring import fetch_for_scoring

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    try:
        with PacsClient(load_config(args.pacs)) as client:
            fetched = fetch_for_scoring(client, StudyCache(), study_uid=args.study, since=args.since or "",
                                        modalities=args.modality, say=say)
    except PacsError as exc:
        raise CommandError(str(exc)) from None
    if fetched.skipped_own:
        say(f"skipped {fetched.skipped_own} heat-map images xrayviewer stored earlier")
    return fetched


def problem_rows(fetched: Any, engine: Any) -> list[Any]:
    """One error row per instance that could not be fetched or is not an image, like an unreadable film's."""
    from xrayviewer.common.vocab import Status
    from xrayviewer.inference.batch import ScoreRow
    from xrayviewer.inference.scoring import FilmResult

    return [ScoreRow(FilmResult(path=fetched.base / name, status=Status.ERROR, error=message), name,
                     engine.threshold, engine.card.id) for name, message in fetched.problems]


def dicom_outputs(args: argparse.Namespace, base: Path, engine: Any) -> Any:
    """The DICOM results maker for ``--dicom-out`` / ``--store-results`` (None when neither is asked)."""
    if args.dicom_out is None and not args.store_results:
        return None
    from xrayviewer.dicomout.outputs import DicomOutputs

    if args.dicom_out is not None:
        try:
            args.dicom_out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create the DICOM output folder {args.dicom_out}: "
                               f"{exc.strerror or exc}") from None
    return DicomOutputs(base=base, card=engine.card, out_dir=args.dicom_out, keep=args.store_results,
                        threshold=engine.threshold)


def finish_dicom(args: argparse.Namespace, dicom: Any) -> tuple[list[str], int]:
    """Store the results when asked. Returns summary phrases and how many store problems were printed
    (films whose results could not be made are reported, and counted, as they happen)."""
    phrases: list[str] = []
    if args.dicom_out is not None:
        phrases.append(f"{dicom.written} DICOM results in {args.dicom_out}")
    if dicom.not_dicom:
        phrases.append(f"{dicom.not_dicom} films are not DICOM (no DICOM result for them)")
    if not args.store_results:
        return phrases, 0
    from xrayviewer.pacs import PacsClient, PacsError, load_config
    from xrayviewer.pacs.scoring import store_results

    try:
        with PacsClient(load_config(args.pacs)) as client:
            report = store_results(client, dicom.storable(), dicom.failed)
    except PacsError as exc:
        print(f"xrayviewer score: error: results not stored: {exc}", file=sys.stderr)
        return phrases, 1
    for line in report.problems:
        print(f"xrayviewer score: error: {line}", file=sys.stderr)
    phrases.append(f"stored {report.stored} result objects in {report.studies} "
                   f"stud{'y' if report.studies == 1 else 'ies'} on the PACS")
    return phrases, len(report.problems)


def export_reader_srs(log: Path, out_dir: Path, *, study: str | None, reviewer: str | None) -> int:
    """``review export --dicom-out``: each latest decision on a DICOM film as a reader SR."""
    from xrayviewer.cli.common import EXIT_OK, EXIT_SOME_FAILED
    from xrayviewer.common.text import path_text
    from xrayviewer.dicomout.reader import export_decisions
    from xrayviewer.review import AgreementLog, ReviewError

    try:
        with AgreementLog(log, readonly=True) as opened:
            decisions = opened.latest(reviewer=reviewer, study=study)
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the DICOM output folder {out_dir}: {exc.strerror or exc}") from None
    report = export_decisions(decisions, out_dir)
    for film, why in report.problems:
        print(path_text(f"warning: no SR for {film}: {why}"), file=sys.stderr)
    summary = f"wrote {len(report.written)} reader SRs to {out_dir}"
    if report.not_dicom:
        summary += f"; {report.not_dicom} decisions are on films that are not DICOM (no SR for them)"
    print(path_text(summary), file=sys.stderr)
    return EXIT_SOME_FAILED if report.problems else EXIT_OK
