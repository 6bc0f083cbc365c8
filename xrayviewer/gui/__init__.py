"""The desktop review app (PySide6 + pyqtgraph). Qt is imported only inside this package.

Widgets draw :class:`xrayviewer.review.session.ReviewSession` and forward what the reviewer does to it; the
review rules are not here.

* :mod:`.app` - QApplication setup and the entry point; :mod:`.main_window` - the window: its widgets,
  selection and display of films, the reader's decisions, and the wiring to the session;
* :mod:`.actions` - menus, actions and shortcuts; :mod:`.scoring_controller` - the scoring run as the window
  shows it (merging scores without blocking the GUI thread); :mod:`.exports` - File > Export;
  :mod:`.menu_dialogs` - PACS, statistics, model card, feature maps, About; :mod:`.site_threshold` - the
  threshold in force (the card's or an accepted site threshold);
* :mod:`.background` - the one way to run work off the GUI thread (jobs with results, progress and cancel);
* :mod:`.scoring_run` - the scoring run as a background generator of per-batch bundles (cached scores first);
* :mod:`.film_model` - the session's films as a Qt list model, and the numpy-ordered sorting/filtering proxy;
* :mod:`.reader` - who is reading, asked at every launch, and blinded reading;
* :mod:`.thumbnails` - lazily decoded, cached thumbnails and the tile painter;
* :mod:`.viewer` - the large film view (zoom, pan, window/level, reading tools, heat map);
  :mod:`.review_panel` - the decision keys, note and saved state; :mod:`.attributes` - DICOM attributes
  (patient data hidden);
* :mod:`.dialogs` - model card, agreement statistics with the drift check and site threshold, feature maps;
  :mod:`.settings` - persisted settings;
  :mod:`.compat` - PySide6 work-arounds.
"""

from xrayviewer.gui.compat import guard_singleton_refcounts

guard_singleton_refcounts()  # before any widget exists: see compat.py (PySide6 6.12.0 on Python < 3.12)
