"""Re-export: the labelled-data readers live in :mod:`xrayviewer.data.datasets` (torch-free, shared)."""

from xrayviewer.data.datasets import (  # noqa: F401
    LABELS,
    Dataset,
    Sample,
    from_folder_tree,
    from_manifest,
    from_metadata_csv,
    grouped_holdout,
    load_dataset,
    patient_from_name,
    subtype_from_name,
)
