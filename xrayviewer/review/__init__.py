"""Review core: the radiologist's agreement log, agreement statistics and CSV export (no Qt, no torch)."""

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
