"""Labelled film sets and what is measured on them (no torch, no Qt; scikit-learn only where noted).

* :mod:`.datasets` - labelled film lists from our manifest, a Kaggle folder tree or a metadata CSV, with
  patient-grouped hold-out splits;
* :mod:`.metrics` - metrics at a threshold and the sensitivity-first threshold rule that sets the model
  card's operating point.

Shared by training (which picks the threshold) and the evaluation report (which re-checks it), so the
report never needs the training extra. ``xrayviewer.training.datasets`` / ``.metrics`` re-export these.
"""
