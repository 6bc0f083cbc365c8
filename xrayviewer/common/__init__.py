"""Rules every layer shares, each with one home (standard library + numpy only, no Qt, no torch).

* :mod:`.vocab` - the label and status vocabulary (``Label``, ``Status``);
* :mod:`.confusion` - the one confusion count (TP/FP/TN/FN and the rates read from it);
* :mod:`.files` - the one atomic file write (temp file beside the target, fsync, ``os.replace``);
* :mod:`.text` - the one path-to-text rule (undecodable file-name bytes become ``\\xNN``) and number format.
* :mod:`.csv_safety` - the one CSV-injection rule: cells a spreadsheet would run as a formula get a
  leading ``'`` (and how to get the raw text back).

This is the bottom layer: it imports nothing else from xrayviewer.
"""
