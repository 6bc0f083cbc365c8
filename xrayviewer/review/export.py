"""Export the decisions that count to CSV, for audits and for people who live in spreadsheets.

:func:`export_review_csv` writes the log (one row per film and reviewer with a decision); :func:`export_study_csv`
writes the open study (one row per film, unreviewed and unreadable films included, with the model's call).

The CSV is written to a temporary file beside the target and renamed over it only once complete and synced,
so a full disk or a crash leaves either the previous CSV or none, never half of one. The log is only read
(opened read-only when given as a path).
"""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path

from xrayviewer.common.csv_safety import safe_row
from xrayviewer.common.files import atomic_write
from xrayviewer.common.text import path_text
from xrayviewer.common.vocab import Status
from xrayviewer.review.log import AgreementLog, LoggedDecision, ReviewError
from xrayviewer.review.session import ReviewSession

CSV_COLUMNS = (
    "path", "sha256", "study", "model_id", "pneumonia_probability", "model_call", "threshold",
    "reviewer", "decision", "agrees", "note", "decided_at_utc", "app_version", "scope", "scope_reason",
)


class ExportError(ReviewError):
    """The CSV could not be written; the message is meant for the user. No partial file is left."""


def csv_row(d: LoggedDecision) -> list[str]:
    """One CSV row; floats as Python writes them (shortest exact form), booleans as true/false.

    An out-of-scope film has an empty probability and model_call OUT_OF_SCOPE (the reader's label alone).
    """
    probability = "" if d.probability is None else repr(d.probability)
    return [d.path, d.sha256, d.study, d.model_id, probability, d.model_call, repr(d.threshold),
            d.reviewer, d.decision, "true" if d.agrees else "false", d.note, d.decided_at_utc, d.app_version,
            d.scope, d.scope_reason]


def _why(e: OSError, csv_path: Path) -> str:
    if e.errno == errno.ENOSPC or e.errno == getattr(errno, "EDQUOT", None):
        return f"the disk is full; the CSV was not written: {csv_path}"
    if isinstance(e, FileNotFoundError):
        return f"the folder does not exist; the CSV was not written: {csv_path.parent}"
    if isinstance(e, PermissionError) or e.errno == errno.EROFS:
        return (f"no permission to write there (or the file is open in another program); "
                f"the CSV was not written: {csv_path}")
    if isinstance(e, IsADirectoryError):
        return f"that is a folder, not a file; the CSV was not written: {csv_path}"
    return f"cannot write the CSV: {csv_path} ({e.strerror or e})"


def write_csv(decisions: list[LoggedDecision], csv_path: str | os.PathLike[str]) -> int:
    """Atomically write `decisions` as CSV (UTF-8) to `csv_path`; returns rows written."""
    target = Path(csv_path)
    if target.is_dir():
        raise ExportError(f"that is a folder, not a file; the CSV was not written: {target}")
    try:
        with atomic_write(target) as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(safe_row(csv_row(d)) for d in decisions)  # notes and names never run as formulas
    except OSError as e:
        raise ExportError(_why(e, target)) from e
    return len(decisions)


def export_review_csv(log: AgreementLog | str | os.PathLike[str], csv_path: str | os.PathLike[str], *,
                      study: str | None = None, reviewer: str | None = None) -> int:
    """Write one row per film and reviewer with the latest decision and the model output it was made against.

    `log` is an open AgreementLog (left open) or a log path (opened read-only). Rows are sorted by study,
    path and reviewer. Returns the number of rows written. Raises ExportError when the CSV cannot be written
    and LogError when the log cannot be read; both derive from ReviewError.
    """
    if isinstance(log, AgreementLog):
        decisions = log.latest(reviewer=reviewer, study=study)
    else:
        with AgreementLog(log, readonly=True) as opened:
            decisions = opened.latest(reviewer=reviewer, study=study)
    decisions.sort(key=lambda d: (d.study, d.path, d.reviewer, d.id))
    return write_csv(decisions, csv_path)


STUDY_COLUMNS = (
    "path", "sha256", "study", "model_id", "status", "error", "pneumonia_probability", "model_call", "threshold",
    "borderline", "scope", "scope_reason", "reviewer", "review_state", "decision", "agrees", "note",
    "decided_at_utc",
)


def study_rows(session: ReviewSession) -> list[list[str]]:
    """One row per film of the open study, in discovery order, for the session's reader.

    Unreviewed films have the model's call and an empty decision; unreadable films have their error and, if the
    reader marked them, NON_DIAGNOSTIC or RECALL; films not scored yet say ``pending``.
    """
    rows = []
    for it in session.items:
        scored = it.status == Status.OK
        probability = repr(float(it.probability)) if it.judged else ""
        call = it.prediction if scored else ""
        threshold = repr(float(it.threshold)) if scored else ""
        borderline = ("yes" if it.borderline else "no") if it.judged else ""
        scope = ("out" if it.out_of_scope else "in") if scored else ""
        reviewer = decision = agrees = note = at = ""
        if (d := it.decision) is not None:
            reviewer, decision, note, at = d.reviewer, d.decision, d.note, d.decided_at_utc
            agrees = ("true" if d.agrees else "false") if d.in_scope else ""
        elif (u := it.unreadable_decision) is not None:
            reviewer, decision, note, at = u.reviewer, u.decision, u.note, u.decided_at_utc
        rows.append([path_text(str(it.path)), it.sha256, session.study, session.model_id or "", str(it.status),
                     path_text(it.error), probability, call, threshold, borderline, scope, it.scope_reason,
                     reviewer, str(it.review_state), decision, agrees, note, at])
    return rows


def export_study_csv(session: ReviewSession, csv_path: str | os.PathLike[str]) -> int:
    """Atomically write :func:`study_rows` (with :data:`STUDY_COLUMNS`) to ``csv_path``; returns rows written.

    Raises ExportError (a ReviewError) when the CSV cannot be written; no partial file is left.
    """
    target = Path(csv_path)
    if target.is_dir():
        raise ExportError(f"that is a folder, not a file; the CSV was not written: {target}")
    rows = study_rows(session)
    try:
        with atomic_write(target) as f:
            writer = csv.writer(f)
            writer.writerow(STUDY_COLUMNS)
            writer.writerows(safe_row(r) for r in rows)
    except OSError as e:
        raise ExportError(_why(e, target)) from e
    return len(rows)
