"""Re-export: metrics and the threshold rule live in :mod:`xrayviewer.data.metrics` (torch-free, shared)."""

from xrayviewer.data.metrics import BinaryMetrics, metrics_at, safe_auc, sensitivity_first_threshold  # noqa: F401
