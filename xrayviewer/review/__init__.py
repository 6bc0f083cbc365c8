"""Review core: what the radiologist decides about the model's calls (no Qt, no torch).

* :mod:`.session` - one study under review: its films, the reviewer's decisions, the scoring run's state and
  every review rule (follow-the-top, next unreviewed, agree/disagree, filters). The GUI draws it; new review
  features (reader identity, borderline marks, out-of-scope groups) start here;
* :mod:`.log` - the agreement log (SQLite, WAL, append-only, one transaction per decision);
* :mod:`.stats` - agreement rate, Cohen's kappa and the confusion matrix per reviewer;
* :mod:`.export` - the decisions that count as CSV, and a study as CSV (one row per film);
* :mod:`.drift` - the site operating threshold proposed from the readers' labels.
"""

from xrayviewer.review.export import CSV_COLUMNS, ExportError, export_review_csv
from xrayviewer.review.log import (
    LABELS,
    NORMAL,
    PNEUMONIA,
    AgreementLog,
    Decision,
    LogError,
    LoggedDecision,
    ReviewError,
    default_log_path,
)
from xrayviewer.review.stats import (
    AgreementStats,
    ReviewStats,
    cohen_kappa,
    compute_stats,
    format_stats,
    log_stats,
)

__all__ = [
    "CSV_COLUMNS",
    "LABELS",
    "NORMAL",
    "PNEUMONIA",
    "AgreementLog",
    "AgreementStats",
    "Decision",
    "ExportError",
    "LogError",
    "LoggedDecision",
    "ReviewError",
    "ReviewStats",
    "cohen_kappa",
    "compute_stats",
    "default_log_path",
    "export_review_csv",
    "format_stats",
    "log_stats",
]
