"""The evaluation report (``xrayviewer evaluate``): how a model does on a labelled set, as HTML + PNGs.

Split by what each part needs, so the numbers can be tested without a display:

* :mod:`.metrics` - numpy + scikit-learn only (curves, confusion, calibration, per-subtype results);
* :mod:`.images` - Pillow only (misclassified-film gallery with heat maps, feature-map tiles);
* :mod:`.plots` - the one module that touches Qt (pyqtgraph rendered offscreen to PNG);
* :mod:`.report` - scores the films and assembles ``metrics.json``, ``predictions.csv`` and ``index.html``.

scikit-learn comes with the ``report`` (and ``train``) extras, not with the runtime app.
"""
