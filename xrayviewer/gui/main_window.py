"""The review window: thumbnails sorted by suspicion, the large view, the review panel and the status bar.

The window builds widgets and forwards what the reviewer does to the Qt-free
:class:`~xrayviewer.review.session.ReviewSession` (the study, decisions, run state and every review rule);
it only decides what to show. New review features belong in the session first, then get a widget here.

Threads: folder discovery, thumbnails, the selected film's full-resolution decode, feature maps and scoring
all run off the GUI thread as jobs of one mechanism (:mod:`xrayviewer.gui.background`). Only recording a
decision runs here, on purpose: it is one small SQLite commit, and the UI must not show "saved" before it
has returned.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from xrayviewer import NOTICE, __version__
from xrayviewer.common.vocab import Label, Status
from xrayviewer.films import Film, discover_films, load_film
from xrayviewer.gui.attributes import AttributesPanel
from xrayviewer.gui.background import SCORING_NICENESS, Background, Job, call_lowered
from xrayviewer.gui.dialogs import (
    FeatureMapDialog,
    ModelCardDialog,
    SiteThresholdHooks,
    StatisticsDialog,
    ThresholdInForce,
)
from xrayviewer.gui.film_model import FilmListModel, FilmSortProxy
from xrayviewer.gui.lru import Lru
from xrayviewer.gui.reader import BlindMode, ReaderDialog
from xrayviewer.gui.review_panel import ReviewPanel
from xrayviewer.gui.scoring_run import Bundle, emit_interval, scoring_bundles
from xrayviewer.gui.settings import Settings
from xrayviewer.gui.style import banner, muted
from xrayviewer.gui.thumbnails import ThumbnailDelegate, ThumbnailLoader
from xrayviewer.gui.viewer import FilmViewer
from xrayviewer.inference.engine import Engine, ModelError
from xrayviewer.inference.score_cache import ScoreCache, model_key
from xrayviewer.review import AgreementLog, LoggedDecision, ReviewError, export_review_csv
from xrayviewer.review.drift import SiteProposal, accept, effective_threshold, revert
from xrayviewer.review.export import export_study_csv
from xrayviewer.review.log import NON_DIAGNOSTIC, OUT_OF_SCOPE, RECALL
from xrayviewer.review.session import DecisionKind, FilmItem, Filter, ReviewSession, RunState, Verdict, parse_kind
from xrayviewer.scope import ScopeError, ScopeGate

log = logging.getLogger(__name__)

DECODED_CACHE = 4  # full-resolution films kept for instant back-and-forth (they can be 100 MB each)
MERGE_MAX = 1000  # scores merged into the grid per turn of the event loop
# Work that follows a merge (counts, progress bar, drawing the new top film) waits this long, so the event loop
# paints and answers input in between instead of doing it all in one turn (a queued call would run at once).
AFTER_MERGE_MS = 15


def _discover(folder: Path) -> list[Path]:
    """The study's films, found off the GUI thread; each path's hash is computed here too (a Path keeps it),
    so indexing 10,000 films by path on the GUI thread does not hash them there."""
    paths = discover_films(folder)
    for p in paths:
        hash(p)
    return paths


class MainWindow(QMainWindow):
    def __init__(self, *, model_path: Path | None, log_path: Path, provider: str = "auto",
                 settings: Settings | None = None, batch_size: int = 8,
                 decoder: Callable[[Path, int], Any] | None = None, cache_path: Path | None = None,
                 use_cache: bool = True) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.batch_size = batch_size
        self.decoder = decoder  # tests inject a slow decoder to exercise cancel
        self.worker: Job | None = None  # the scoring run whose results are shown
        self._incoming: list[Bundle] = []  # its batches not shown yet (coalesced: one re-sort per interval)
        self._last_shown = 0.0
        self._show_timer = QTimer(self)
        self._show_timer.setSingleShot(True)
        self._show_timer.timeout.connect(self._show_incoming)
        # The status bar's counts (a pass over every film) and the progress bar (which repaints at once) follow
        # a merge on the next turn of the event loop, so each turn stays short in a 10,000-film study.
        self._progress: tuple[int, int, float] | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.setInterval(AFTER_MERGE_MS)
        self._status_timer.timeout.connect(self._show_progress)
        self._auto_selecting = False
        self._films: Lru[Path, Film] = Lru(DECODED_CACHE)  # decoded full-resolution films
        self._current_path: Path | None = None
        self._folder_token = 0
        self._gc_frozen = False
        self.feature_dialog: FeatureMapDialog | None = None
        self.tasks = Background(self, threads=2)  # discovery, decodes, feature maps
        # a cancelled run may still finish its batch beside a new one; scoring steps aside for the GUI thread
        self.scoring = Background(self, threads=2, niceness=SCORING_NICENESS)
        self.setWindowTitle(f"xrayviewer {__version__}")
        self.setAcceptDrops(True)

        self.engine: Engine | None = None
        self.gate: ScopeGate | None = None
        self.model_error = ""
        self._load_engine(model_path, provider)
        self.log_path = Path(log_path)
        # The reader is asked at every launch (ask_reader), never carried over silently from the last one.
        self.session = ReviewSession(model_id=self.engine.card.id if self.engine is not None else None)
        self._open_log()
        self.threshold_in_force = ThresholdInForce(self.engine.card.threshold if self.engine else float("nan"),
                                                   "model card")
        self.cache: ScoreCache | None = None
        self.cache_key = ""
        if self.engine is not None and use_cache:
            self.cache = ScoreCache(cache_path)
            self.cache_key = model_key(self.engine.card.id, model_path)
        self._run_started = 0.0
        self._run_cached = 0

        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._restore_state()
        self._apply_threshold_in_force()
        self._update_reader()
        self._update_counts()

    # -- setup ----------------------------------------------------------------------------------------------

    def _load_engine(self, model_path: Path | None, provider: str) -> None:
        if model_path is None:
            self.model_error = "no model was given"
            return
        try:
            # made on a lowered thread: onnxruntime's own threads inherit that, so scoring yields to the GUI
            self.engine = call_lowered(lambda: Engine(model_path, provider=provider), SCORING_NICENESS)
            self.gate = ScopeGate.for_model(self.engine.card)  # every film is checked before any call
        except (ModelError, ScopeError) as exc:
            self.engine = None
            self.model_error = str(exc)
            log.warning("model unavailable: %s", exc)

    def _open_log(self) -> None:
        try:
            self.session.log = AgreementLog(self.log_path)
        except ReviewError as exc:
            self.session.log, self.session.log_error = None, str(exc)
            log.warning("agreement log unavailable: %s", exc)

    # The session holds the study; these read it for widgets (and tests).

    @property
    def log(self) -> AgreementLog | None:
        return self.session.log

    @log.setter
    def log(self, value: AgreementLog | None) -> None:
        self.session.log = value

    @property
    def log_error(self) -> str:
        return self.session.log_error

    @property
    def folder(self) -> Path | None:
        return self.session.folder

    @property
    def study(self) -> str:
        return self.session.study

    @property
    def run_state(self) -> RunState:
        return self.session.run_state

    def _build_widgets(self) -> None:
        self.notice = banner("noticeBanner", "notice", f"⚠ {NOTICE}", bold=True)
        self.model_banner = banner("modelBanner", "error", selectable=True)
        if self.engine is None:
            self.model_banner.setText(f"Model unavailable — {self.model_error}. You can still browse films; "
                                      "scoring, heat maps and review are off. Start with --model PATH to use "
                                      "another model.")
        self.model_banner.setVisible(self.engine is None)
        self.log_banner = banner("logBanner", "warning")
        self._update_log_banner()

        # Left: filter + thumbnail grid.
        self.model = FilmListModel(self.session, self)
        self.proxy = FilmSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.sort(0, Qt.SortOrder.DescendingOrder)
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.ready.connect(self._on_thumbnail)
        self.thumbs.hashed.connect(lambda p, sha: self.model.learn_sha(Path(p), sha))
        self.list_view = QListView()
        self.list_view.setViewMode(QListView.ViewMode.IconMode)
        self.list_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.list_view.setMovement(QListView.Movement.Static)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setLayoutMode(QListView.LayoutMode.Batched)
        self.list_view.setBatchSize(200)
        self.list_view.setSpacing(2)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list_view.setItemDelegate(ThumbnailDelegate(self.thumbs, self.list_view))
        self.list_view.setModel(self.proxy)
        self.list_view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.filter_combo = QComboBox()
        for mode in Filter:
            self.filter_combo.addItem(mode.label, mode.value)
        self.filter_combo.currentIndexChanged.connect(self._on_filter_changed)
        # Keys must reach the list, not the combo: Home/End there would jump to a filter that hides every film.
        self.filter_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show:"))
        row.addWidget(self.filter_combo, 1)
        left_layout.addLayout(row)
        self.order_label = muted(QLabel("Most suspicious first"))
        left_layout.addWidget(self.order_label)
        left_layout.addWidget(self.list_view, 1)
        left.setMinimumWidth(self.thumbs.size + 60)

        self.viewer = FilmViewer(opacity=self.settings.overlay_opacity)
        self.viewer.opacity_changed.connect(self._on_opacity)
        self.viewer.overlay_check.setEnabled(self.engine is not None)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 900])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice)
        layout.addWidget(self.model_banner)
        layout.addWidget(self.log_banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        # Right: review and DICOM attributes docks.
        self.review_panel = ReviewPanel()
        self.review_panel.decision_requested.connect(self.decide)
        self.review_panel.change_reviewer.connect(self.change_reviewer)
        self.review_panel.unreadable_requested.connect(self.decide_unreadable)
        self.review_panel.note.returnPressed.connect(self.list_view.setFocus)
        self.review_dock = QDockWidget("Review", self)
        self.review_dock.setObjectName("reviewDock")
        self.review_dock.setWidget(self.review_panel)
        self.review_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.review_dock)
        self.attributes = AttributesPanel()
        self.attributes.revealed.connect(self._log_reveal)
        self.attributes_dock = QDockWidget("DICOM attributes", self)
        self.attributes_dock.setObjectName("attributesDock")
        self.attributes_dock.setWidget(self.attributes)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.attributes_dock)
        self.resizeDocks([self.review_dock], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.review_dock, self.attributes_dock], [440, 480], Qt.Orientation.Vertical)

    def _action(self, text: str, slot: Callable[..., Any], shortcuts: list[str] | str | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcuts:
            keys = [shortcuts] if isinstance(shortcuts, str) else shortcuts
            action.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _=False: slot())
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self.open_action = self._action("&Open folder…", self.choose_folder, "Ctrl+O")
        m.addAction(self.open_action)
        self.recent_menu = m.addMenu("Recent folders")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        self.pacs_action = self._action("Open from &PACS…", self.open_from_pacs, "Ctrl+Shift+O")
        m.addAction(self.pacs_action)
        m.addSeparator()
        self.export_action = self._action("&Export review CSV (this study, one row per film)…", self.export_csv,
                                          "Ctrl+E")
        self.export_log_action = self._action("Export the whole agreement &log…", self.export_log_csv)
        m.addActions([self.export_action, self.export_log_action])
        self.dicom_export_action = self._action("Export &DICOM results…", self.export_dicom)
        m.addAction(self.dicom_export_action)
        m.addSeparator()
        m.addAction(self._action("&Quit", self.close, "Ctrl+Q"))

        m = bar.addMenu("&Review")
        self.agree_action = self._action("&Agree with the model", lambda: self.decide(Verdict.AGREE), "A")
        self.disagree_action = self._action("&Disagree with the model", lambda: self.decide(Verdict.DISAGREE), "D")
        self.normal_action = self._action("Label &NORMAL", lambda: self.decide(Label.NORMAL), "N")
        self.pneumonia_action = self._action("Label &PNEUMONIA", lambda: self.decide(Label.PNEUMONIA), "P")
        self.next_action = self._action("&Next film", lambda: self.step(+1), ["J", "Down", "Right"])
        self.prev_action = self._action("&Previous film", lambda: self.step(-1), ["K", "Up", "Left"])
        self.note_action = self._action("Add a note…", self.review_panel.note.setFocus, "Ctrl+N")
        self.nondiagnostic_action = self._action("Unreadable film: non-&diagnostic",
                                                 lambda: self.decide_unreadable(NON_DIAGNOSTIC), "Shift+N")
        self.recall_action = self._action("Unreadable film: &recall for a new film",
                                          lambda: self.decide_unreadable(RECALL), "Shift+R")
        for a in (self.agree_action, self.disagree_action, self.normal_action, self.pneumonia_action):
            m.addAction(a)
        m.addActions([self.nondiagnostic_action, self.recall_action])
        m.addSeparator()
        m.addActions([self.next_action, self.prev_action, self.note_action])
        m.addSeparator()
        m.addAction(self._action("Change reader…", self.change_reviewer))
        self.stats_action = self._action("Agreement &statistics…", self.show_statistics, "Ctrl+T")
        m.addAction(self.stats_action)

        m = bar.addMenu("&View")
        v = self.viewer
        self.heatmap_action = self._action("Toggle &heat map", v.toggle_overlay, "H")
        self.fit_action = self._action("&Fit film to view", v.fit, "F")
        self.one_to_one_action = self._action("&Zoom 1:1 (one film pixel per screen pixel)", v.zoom_one_to_one, "Z")
        self.invert_action = self._action("&Invert", v.toggle_invert, "I")
        self.rotate_action = self._action("&Rotate 90° clockwise", lambda: v.rotate(1), "R")
        self.rotate_back_action = self._action("Rotate 90° anticlockwise", lambda: v.rotate(-1), "L")
        self.flip_h_action = self._action("Flip left-right", lambda: v.flip(horizontal=True), "X")
        self.flip_v_action = self._action("Flip top-bottom", lambda: v.flip(horizontal=False), "Y")
        self.ruler_action = self._action("&Measure (ruler, mm from the DICOM pixel spacing)", v.toggle_ruler, "M")
        self.reset_view_action = self._action("Reset view (window, rotation, flips, invert, zoom)",
                                              v.reset_view, "0")
        m.addActions([self.heatmap_action, self.fit_action, self.one_to_one_action])
        m.addSeparator()
        m.addActions([self.invert_action, self.rotate_action, self.rotate_back_action, self.flip_h_action,
                      self.flip_v_action, self.ruler_action, self.reset_view_action])
        presets = m.addMenu("Window / level presets")
        self.preset_actions = []
        for n in range(1, 10):
            text = {1: "Auto (0.5–99.5 %)", 2: "Full range"}.get(n, f"Film's preset {n - 2}")
            action = self._action(f"&{n}  {text}", lambda n=n: v.apply_preset(n), str(n))
            presets.addAction(action)
            self.preset_actions.append(action)
        m.addSeparator()
        self.features_action = self._action("Feature &maps…", self.show_feature_maps, "Ctrl+M")
        self.features_action.setEnabled(self.engine is not None)
        m.addAction(self.features_action)

        m = bar.addMenu("&Scoring")
        self.score_action = self._action("Score &remaining films", self.start_scoring, "Ctrl+R")
        self.cancel_action = self._action("&Cancel scoring", self.cancel_scoring)
        self.score_action.setEnabled(self.engine is not None)
        self.cancel_action.setEnabled(False)
        m.addActions([self.score_action, self.cancel_action])

        m = bar.addMenu("&Help")
        self.card_action = self._action("&Model card…", self.show_model_card)
        self.card_action.setEnabled(self.engine is not None)
        m.addAction(self.card_action)
        m.addAction(self._action("&About xrayviewer", self.show_about))

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        if self.engine is not None:
            self.provider_label = QLabel(f"Running on {self.engine.provider}")
            self.model_label = QLabel(f"Model {self.engine.card.id}")
        else:
            self.provider_label = QLabel("No model")
            self.model_label = QLabel("")
        self.counts_label = QLabel()
        self.reader_label = QLabel()
        self.reader_label.setObjectName("readerLabel")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.rate_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_scoring)
        for w in (self.reader_label, self.provider_label, self.model_label, self.counts_label):
            sb.addPermanentWidget(w)
        sb.addWidget(self.progress)
        sb.addWidget(self.rate_label)
        sb.addWidget(self.cancel_button)

    def _restore_state(self) -> None:
        geometry, state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(self.sizeHint())
        if state is not None:
            self.restoreState(state)
        self.fit_to_screen()

    def _available(self) -> Any:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else None

    def fit_to_screen(self, available: Any = None) -> None:
        """Keep the window on the screen it opens on (1366x768 included), even with a saved bigger size."""
        area = available or self._available()
        if area is None:
            return
        frame = self.frameGeometry().size() - self.geometry().size()  # title bar and borders
        width = min(self.width(), area.width() - frame.width())
        height = min(self.height(), area.height() - frame.height())
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        if not area.contains(self.frameGeometry()):
            self.move(max(area.left(), min(self.x(), area.right() - self.frameGeometry().width())),
                      max(area.top(), min(self.y(), area.bottom() - self.frameGeometry().height())))

    def _update_log_banner(self) -> None:
        if self.log is None:
            text = f"Agreement log unavailable — {self.log_error} Decisions cannot be saved."
        elif self.log.readonly:
            text = f"The agreement log is read-only ({self.log_path}): past decisions are shown, new ones " \
                   "cannot be saved."
        else:
            text = ""
        self.log_banner.setText(text)
        self.log_banner.setVisible(bool(text))

    # -- folders --------------------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        start = str(self.folder or self.settings.last_folder or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of chest films", start)
        if folder:
            self.open_folder(Path(folder))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_folders
        for folder in recent:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(Path(f)))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent)

    def open_folder(self, folder: Path, select: Path | None = None) -> None:
        """Discover films off the GUI thread, then show them (selecting `select`) and start scoring."""
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            QMessageBox.warning(self, "Cannot open folder", f"Not a folder: {folder}")
            return
        folder = folder.resolve()
        self._stop_worker()
        self._folder_token += 1
        token = self._folder_token
        self.statusBar().showMessage(f"Looking for films in {folder}…")

        def done(paths: list[Path]) -> None:
            if token == self._folder_token:
                self._populate(folder, paths)
                if select is not None:
                    self.select_path(Path(select).resolve())

        def failed(message: str) -> None:
            if token == self._folder_token:
                QMessageBox.warning(self, "Cannot open folder", f"{folder}: {message}")

        self.tasks.submit(lambda: _discover(folder), done, failed)

    def _populate(self, folder: Path, paths: list[Path]) -> None:
        self.settings.add_recent(folder)
        self.setWindowTitle(f"{folder.name} — xrayviewer {__version__}")
        self.thumbs.clear()
        self._films.clear()
        self._current_path = None
        self.viewer.clear("No film selected" if paths else "No films in this folder")
        self.attributes.set_meta({}, frozenset())
        warning = self.model.open(folder, paths)
        # The study's items live as long as it is open: keeping them (and everything made before) out of the
        # cyclic GC's full collections keeps its pauses on the GUI thread short with 10,000 films. On a study
        # switch the frozen objects are released first, so the previous study's cycles are collected.
        if self._gc_frozen:
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        self._gc_frozen = True
        self._update_reader()
        self.review_panel.show_item(None)
        self.review_panel.last_saved.setText("")  # it named a film of the previous study
        self.statusBar().showMessage(warning or f"{len(paths)} films in {folder}", 10000 if warning else 5000)
        self._update_counts()
        if self.engine is not None and paths:
            self.start_scoring()
        elif paths:
            self._select_top()

    # -- scoring --------------------------------------------------------------------------------------------

    def start_scoring(self) -> None:
        """Score every film not scored yet (all of them for a new folder; the rest after a cancel)."""
        if self.engine is None or self.worker is not None:
            return
        paths = self.session.pending_paths()
        if not paths:
            return
        job = self.scoring.run(scoring_bundles, paths, self.engine, batch_size=self.batch_size,
                               decoder=self.decoder, gate=self.gate, cache=self.cache, cache_key=self.cache_key,
                               cancellable=True)
        self._run_started = time.monotonic()
        self._run_cached = 0
        job.yielded.connect(lambda bundle, j=job: self._on_bundle(j, bundle))
        job.errored.connect(lambda message, j=job: self._on_failed(j, message))
        job.finished.connect(lambda j=job: self._on_finished(j))
        self.worker = job
        self.session.run_started()
        self.progress.setRange(0, len(paths))
        self.progress.setValue(0)
        self.progress.setFormat(f"%v / {len(paths)}")
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.cancel_action.setEnabled(True)
        self.score_action.setEnabled(False)
        self.rate_label.setText("Scoring…")

    def cancel_scoring(self) -> None:
        if self.worker is None:
            return
        self.worker.cancel()
        self._drop_incoming()  # nothing more is shown once "cancelling" is
        self.session.run_cancelled()
        self.cancel_button.setEnabled(False)
        self.rate_label.setText("Cancelling…")

    def _stop_worker(self) -> None:
        """Detach the current run: it stops after its batch in flight, and nothing it sends is used."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker = None
        self._drop_incoming()
        self._scoring_ui_idle()

    def _drop_incoming(self) -> None:
        self._show_timer.stop()
        self._status_timer.stop()
        self._progress = None
        self._incoming.clear()

    def _scoring_ui_idle(self) -> None:
        self.cancel_button.setVisible(False)
        self.cancel_action.setEnabled(False)
        self.score_action.setEnabled(self.engine is not None)

    def _on_bundle(self, job: Job, bundle: Bundle) -> None:
        if job is not self.worker:
            return  # a superseded run: nothing more is shown (a cancelled one delivers nothing)
        self._incoming.append(bundle)
        self._run_cached += bundle.cached
        if not self._show_timer.isActive():
            wait = emit_interval(bundle.total) - (time.monotonic() - self._last_shown)
            self._show_timer.start(max(0, int(1000 * wait)))

    def _show_incoming(self) -> None:
        """Merge the batches that arrived since the last update: one re-sort of the grid for all of them.

        At most MERGE_MAX films per turn of the event loop (the rest follows on the next turn), so a flood of
        cached scores never blocks the window for long."""
        if not self._incoming:
            return
        bundles, self._incoming = self._incoming, []
        self._last_shown = time.monotonic()
        results = [r for b in bundles for r in b.results]
        if len(results) > MERGE_MAX:
            last = bundles[-1]
            self._incoming = [Bundle(results[MERGE_MAX:], last.done, last.total, last.rate)]
            results = results[:MERGE_MAX]
            self._show_timer.start(0)
        self.model.apply_results(results)
        if self.engine is not None and any(r.threshold != self.threshold_in_force.value for r in results):
            # a site threshold accepted or reverted while this run was going: its calls follow at once
            self.model.rows_changed(self.session.apply_threshold(self.threshold_in_force.value, self.engine.card))
        if self.session.should_show_top(self.list_view.currentIndex().isValid()):
            self._select_top()
        else:
            self._keep_current_in_view()
        current = self.current_item()
        if current is not None and current.path in {r.path for r in results}:
            self.viewer.update_score(current)
            self._refresh_review_panel()
        last = bundles[-1]
        self._progress = (last.done, last.total, last.rate)
        self._status_timer.start()  # counts and progress bar on their own turn of the event loop

    def _show_progress(self) -> None:
        self._update_counts()
        if self._progress is not None and self.worker is not None:
            done, total, rate = self._progress
            self.progress.setValue(done)
            self.rate_label.setText(f"Scoring: {done}/{total} · {rate:.1f} films/s")

    def _on_failed(self, job: Job, message: str) -> None:
        if job is not self.worker:
            return
        self.session.run_failed()
        QMessageBox.critical(self, "Scoring failed", message)

    def _on_finished(self, job: Job) -> None:
        if job is not self.worker:
            return
        self._show_timer.stop()
        self._show_incoming()
        if self._incoming:  # more than one turn's worth still to show: finish once it is shown
            self._show_timer.stop()
            QTimer.singleShot(0, lambda: self._on_finished(job))
            return
        self._status_timer.stop()  # the counts are brought up to date below
        self.session.run_finished(job.cancelled)
        counts = self.model.counts()
        if job.cancelled:
            self.rate_label.setText(f"Cancelled: {counts['scored'] + counts['errors']} of {counts['total']} "
                                    "films scored. Scoring ▸ Score remaining films to resume.")
        elif self.session.run_state is RunState.DONE:
            self.rate_label.setText(f"Scored {counts['scored']} films, {counts['errors']} unreadable.")
            self.progress.setVisible(False)
        cancelled = job.cancelled
        QTimer.singleShot(0, lambda: self._log_run_summary(cancelled))  # its own turn of the event loop
        self.worker = None
        self._scoring_ui_idle()
        self._update_counts()
        if self.session.should_show_top(self.list_view.currentIndex().isValid()) and self.proxy.rowCount():
            self._select_top()

    # -- selection and display -----------------------------------------------------------------------------

    def current_item(self) -> FilmItem | None:
        return self.proxy.item_at(self.list_view.currentIndex())

    def _select_top(self) -> None:
        """Show the first unreviewed film (the most suspicious one in a fresh study; where the reader stopped in
        a reopened one) without counting it as the reader's own choice."""
        target = self.session.film_to_show(self.proxy.iter_items())
        if target is not None and target is self.current_item():
            return  # already shown: no re-selection, no scroll
        self._auto_selecting = True
        try:
            if target is None or not self.select_path(target.path):
                self.select_row(0)
        finally:
            self._auto_selecting = False

    def _keep_current_in_view(self) -> None:
        """After a re-sort the reader's film stays selected (persistent index) and is scrolled back into view."""
        current = self.list_view.currentIndex()
        if current.isValid():
            self.list_view.scrollTo(current, QAbstractItemView.ScrollHint.EnsureVisible)

    def select_row(self, row: int) -> None:
        if 0 <= row < self.proxy.rowCount():
            index = self.proxy.index(row, 0)
            self.list_view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.list_view.scrollTo(index)

    def select_path(self, path: Path) -> bool:
        row = self.model.row_of(path)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.select_row(index.row())
        return True

    def step(self, delta: int) -> None:
        n = self.proxy.rowCount()
        if not n:
            return
        current = self.list_view.currentIndex()
        row = current.row() + delta if current.isValid() else 0
        self.select_row(min(max(row, 0), n - 1))

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        # Qt itself makes the first film current when the list gets focus with none: not the reader's pick.
        if not self._auto_selecting and current.isValid() and previous.isValid():
            self.session.reviewer_picked()  # keep the reviewer's film, however rows re-sort
        item = self.proxy.item_at(current)
        if item is None:
            self._current_path = None
            self.viewer.clear()
            self.attributes.set_meta({}, frozenset())
            self.review_panel.show_item(None)
            return
        if item.path == self._current_path:
            return
        self._current_path = item.path
        self._refresh_review_panel()
        film = self._films.get(item.path)
        if film is not None and self._auto_selecting:
            # following the top while scores arrive: drawing the film waits for the next turn of the event
            # loop, so the merge that moved the top and the drawing never block the window together
            QTimer.singleShot(AFTER_MERGE_MS, lambda p=item.path: self._show_if_current(p))
        elif film is not None:
            self._show_film(film, item)
        else:
            self.viewer.clear(f"Loading {item.name}…")
            self.attributes.set_meta({}, frozenset())
            self._decode(item.path, show=True)
        self._prefetch_neighbour(current)

    def _decode(self, path: Path, *, show: bool) -> None:
        def done(film: Film) -> None:
            self._films.put(path, film)
            self.model.learn_sha(path, film.sha256)
            item = self.current_item()
            if show and item is not None and item.path == path:
                self._show_film(film, item)

        def failed(message: str) -> None:
            item = self.current_item()
            if show and item is not None and item.path == path:
                self.viewer.show_error(item, item.error or message)
                self.attributes.set_meta({}, frozenset())
                if self.feature_dialog is not None:
                    self.feature_dialog.set_film(None)

        self.tasks.submit(lambda: load_film(path, keep_modality=True), done, failed)

    def _prefetch_neighbour(self, current: QModelIndex) -> None:
        nxt = self.proxy.item_at(self.proxy.index(current.row() + 1, 0))
        if nxt is not None and nxt.path not in self._films and nxt.status != Status.ERROR:
            self._decode(nxt.path, show=False)

    def _show_if_current(self, path: Path) -> None:
        item, film = self.current_item(), self._films.get(path)
        if item is not None and film is not None and item.path == path:
            self._show_film(film, item)

    def _show_film(self, film: Film, item: FilmItem) -> None:
        self.viewer.set_film(film, item)
        self.attributes.set_meta(film.meta, film.phi_keys, film.format)
        if self.feature_dialog is not None and self.feature_dialog.isVisible():
            self.feature_dialog.set_film(film, item.name)
        self._refresh_review_panel()

    def _refresh_review_panel(self) -> None:
        item = self.current_item()
        why = self.session.why_not_review()
        self.review_panel.show_item(item, can_record=not why, why_not=why)
        self.review_panel.show_history(self.session.history(item), self.session.hidden_count(item))

    def _on_thumbnail(self, path: str) -> None:
        row = self.model.row_of(Path(path))
        if row is None:
            return
        error = self.thumbs.error(path)
        # Unreadable for thumbnails means unreadable for the model too: show it now, not after scoring.
        if error is not None and self.model.mark_unreadable(Path(path), error):
            self._update_counts()
        else:
            index = self.model.index(row)
            self.model.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _on_filter_changed(self) -> None:
        current = self.current_item()
        self.proxy.set_mode(self.filter_combo.currentData())
        if current is None or not self.select_path(current.path):
            self.select_row(0)
        self.list_view.setFocus()
        self._update_order_label()

    def _update_order_label(self) -> None:
        mode = self.proxy.mode
        if self.model.rowCount() and not self.proxy.rowCount():
            self.order_label.setText(f"No films match “{mode.label}”. Show: All films to see them again.")
        else:
            self.order_label.setText("Most suspicious first" if mode is Filter.ALL
                                     else f"{mode.label}: {self.proxy.rowCount()} films, most suspicious first")

    def set_filter(self, mode: Filter | str) -> None:
        self.filter_combo.setCurrentIndex(self.filter_combo.findData(Filter(mode).value))

    def _on_opacity(self, value: float) -> None:
        self.settings.overlay_opacity = value

    # -- review ---------------------------------------------------------------------------------------------

    def ensure_reviewer(self) -> str:
        """The reader for this session: chosen at launch, else asked now (the last one only preselected)."""
        if self.session.reviewer:
            return self.session.reviewer
        self.ask_reader()
        return self.session.reviewer

    def ask_reader(self) -> bool:
        """Who is reading (at every launch, and from Review ▸ Change reader); False when cancelled."""
        readers = sorted(set(self.session.readers()) | set(self.settings.readers), key=str.casefold)
        try:
            blind = BlindMode(self.settings.blind_mode)
        except ValueError:
            blind = BlindMode.AUTO
        choice = ReaderDialog.choose(self, readers, self.session.reviewer or self.settings.reviewer, blind)
        if choice is None:
            return False
        self.set_reader(choice.name, choice.blind)
        return True

    def set_reader(self, name: str, blind: BlindMode = BlindMode.AUTO) -> None:
        """Read as ``name`` from now on: their own decisions show, others' follow the blinded-reading choice."""
        self.settings.add_reader(name)
        self.settings.blind_mode = blind.value
        self.session.blinded = blind.session_value
        warning = self.session.set_reviewer(name)
        if warning:
            self.statusBar().showMessage(warning, 10000)
        log.info("reader chosen; blinded reading %s", "on" if self.session.is_blinded else "off")
        self._update_reader()
        self.model.all_changed()
        if self.session.follow_top and self.proxy.rowCount():
            self._select_top()  # this reader's first unreviewed film
        self._refresh_review_panel()
        self._update_counts()

    def _update_reader(self) -> None:
        name = self.session.reviewer
        blinded = self.session.is_blinded
        self.review_panel.set_reviewer(name, blinded)
        self.reader_label.setText(f"Reader: {name}{' (blinded)' if blinded else ''}" if name
                                  else "Reader: not chosen")

    def change_reviewer(self) -> None:
        self.ask_reader()

    def decide(self, kind: DecisionKind | str) -> None:
        """Record a decision on the current film (A/D/N/P), then move on to the next unreviewed film."""
        kind = parse_kind(kind)
        item = self.current_item()
        if item is None:
            return
        if self.engine is None or item.status != Status.OK:
            self.statusBar().showMessage("Only scored films can be reviewed.", 5000)
            return
        if isinstance(kind, Verdict) and (why := self.session.why_not_agree(item)):
            self.statusBar().showMessage(why, 8000)  # an out-of-scope film: N or P, not A or D
            return
        if self.log is None:
            QMessageBox.critical(self, "Decision not saved",
                                 f"The agreement log is unavailable: {self.log_error}")
            return
        reviewer = self.ensure_reviewer()
        if not reviewer:
            self.statusBar().showMessage("No reader chosen: the decision was not recorded.", 5000)
            return
        # Chosen before recording: recording can re-sort or filter the current film away.
        target = self.session.next_unreviewed(self._display_order(), self.list_view.currentIndex().row())
        try:
            logged = self.session.decide(item, kind, note=self.review_panel.take_note())  # committed
        except (ReviewError, ValueError) as exc:
            self.review_panel.show_unsaved(str(exc))
            QMessageBox.critical(self, "Decision not saved", f"The decision was NOT saved.\n\n{exc}")
            return
        self.model.decision_recorded(logged)
        self.review_panel.clear_note()
        self.review_panel.show_saved(logged)
        self.review_panel.show_last_saved(item.name, logged)
        self.statusBar().showMessage(f"Saved: {item.name} = {logged.decision} ({reviewer})", 4000)
        self._update_counts()
        if target is not None:
            self.select_path(target.path)
        else:
            self._refresh_review_panel()

    def decide_unreadable(self, kind: str) -> None:
        """Shift+N / Shift+R on an unreadable film: non-diagnostic, or recall for a new film."""
        item = self.current_item()
        if item is None or item.status != Status.ERROR:
            self.statusBar().showMessage("Non-diagnostic and recall are for unreadable films.", 5000)
            return
        if self.log is None:
            QMessageBox.critical(self, "Decision not saved", f"The agreement log is unavailable: {self.log_error}")
            return
        if not self.ensure_reviewer():
            self.statusBar().showMessage("No reader chosen: the decision was not recorded.", 5000)
            return
        target = self.session.next_unreviewed(self._display_order(), self.list_view.currentIndex().row())
        try:
            logged = self.session.decide_unreadable(item, kind, note=self.review_panel.take_note())
        except (ReviewError, ValueError) as exc:
            self.review_panel.show_unsaved(str(exc))
            QMessageBox.critical(self, "Decision not saved", f"The decision was NOT saved.\n\n{exc}")
            return
        self.model.item_changed(item)
        self.review_panel.clear_note()
        self.review_panel.show_saved_unreadable(logged)
        self.statusBar().showMessage(f"Saved: {item.name} = {logged.decision} ({logged.reviewer})", 4000)
        self._update_counts()
        if target is not None:
            self.select_path(target.path)

    def _display_order(self) -> Sequence[FilmItem]:
        return self.proxy.items_in_order()

    def open_from_pacs(self) -> None:
        """File > Open from PACS: search, fetch a study into the cache, open it like a folder."""
        from xrayviewer.gui.pacs_dialog import PacsDialog, fetched_message

        def opened(result: Any) -> None:
            self.open_folder(result.folder)
            if result.problems:
                QMessageBox.information(self, "Opened from PACS", fetched_message(result))

        self.pacs_dialog = PacsDialog(lambda fn, done, failed: self.tasks.submit(fn, done, failed), opened, self)
        self.pacs_dialog.show()

    def export_dicom(self) -> None:
        """File > Export DICOM results: an SR and a heat-map capture per scored DICOM film of this study."""
        from xrayviewer.gui.pacs_dialog import export_study, export_summary

        if self.engine is None or self.folder is None:
            QMessageBox.warning(self, "DICOM export", "Open a study and let it be scored first.")
            return
        out = QFileDialog.getExistingDirectory(self, "Export DICOM results to", str(self.folder.parent))
        if not out:
            return
        items, card, folder = list(self.session.items), self.engine.card, self.folder
        self.statusBar().showMessage("Writing DICOM results…")
        self.tasks.submit(lambda: export_study(items, card, folder, Path(out)),
                          lambda done: QMessageBox.information(self, "DICOM export", export_summary(done, Path(out))),
                          lambda message: QMessageBox.critical(self, "DICOM export failed", message))

    def export_folder(self) -> Path:
        """Where exports are offered: the last export folder, else Documents (else home); never inside the
        study folder unless the reader puts it there, so a study copied on keeps no review data by accident."""
        candidates = [self.settings.export_folder,
                      QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation),
                      str(Path.home())]
        for text in candidates:
            if not text:
                continue
            folder = Path(text)
            inside = self.folder is not None and (folder == self.folder or self.folder in folder.parents)
            if folder.is_dir() and not inside:
                return folder
        return Path.home()

    def default_export_path(self, what: str = "review") -> Path:
        name = self.folder.name if self.folder is not None else "xrayviewer"
        return self.export_folder() / f"{name}-{what}-{time.strftime('%Y%m%d')}.csv"

    def export_csv(self) -> None:
        """One row per film of this study for the current reader: decisions, unreviewed films with the model's
        call, unreadable films with their error and any non-diagnostic / recall decision."""
        if self.folder is None:
            QMessageBox.warning(self, "Nothing to export", "Open a study first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export review CSV (one row per film)",
                                              str(self.default_export_path()), "CSV files (*.csv)")
        if not path:
            return
        try:
            n = export_study_csv(self.session, path)
        except ReviewError as exc:
            QMessageBox.critical(self, "Export failed", str(exc))
            return
        self.settings.export_folder = str(Path(path).parent)
        reviewed = self.session.counts().reviewed
        log.info("exported the study CSV: %d films, %d reviewed by the reader", n, reviewed)
        QMessageBox.information(self, "Export done", f"Wrote {n} films ({reviewed} reviewed, "
                                f"{n - reviewed} not) to\n{path}")

    def export_log_csv(self) -> None:
        """Every study's latest decision per film and reader, straight from the agreement log."""
        path, _ = QFileDialog.getSaveFileName(self, "Export the whole agreement log",
                                              str(self.default_export_path("agreement-log")), "CSV files (*.csv)")
        if not path:
            return
        source: AgreementLog | Path = self.log if self.log is not None else self.log_path
        try:
            n = export_review_csv(source, path)
        except ReviewError as exc:
            QMessageBox.critical(self, "Export failed", str(exc))
            return
        self.settings.export_folder = str(Path(path).parent)
        log.info("exported the agreement log: %d decisions", n)
        QMessageBox.information(self, "Export done", f"Wrote {n} decisions (every study) to\n{path}")

    def show_statistics(self) -> None:
        if self.log is None:
            QMessageBox.warning(self, "No statistics", f"The agreement log is unavailable: {self.log_error}")
            return
        log_ = self.log

        def decisions(only_study: bool) -> list[LoggedDecision]:
            return log_.latest(study=self.study if only_study and self.study else None)

        site = None
        if self.engine is not None:
            site = SiteThresholdHooks(self.engine.card, lambda: self.threshold_in_force, log_.latest,
                                      self._accept_site_threshold, self._revert_site_threshold)
        try:
            dialog = StatisticsDialog(decisions, self.folder.name if self.folder else "", self, site)
        except ReviewError as exc:
            QMessageBox.critical(self, "No statistics", str(exc))
            return
        self.stats_dialog = dialog
        dialog.show()

    # -- the threshold in force -----------------------------------------------------------------------------

    def _apply_threshold_in_force(self) -> None:
        """Use the site threshold when one is accepted for this model, else the card's: for the engine (every
        new score), for every call already shown, and in the model card dialog."""
        if self.engine is None:
            return
        card = self.engine.card
        value, source = effective_threshold(card, self.log)
        entry = None
        if self.log is not None and source != "model card":
            try:
                entry = self.log.site_threshold(card.id)
            except ReviewError:
                entry = None
        self.threshold_in_force = ThresholdInForce(value, source, entry.reviewer if entry else "",
                                                   entry.at_utc[:16].replace("T", " ") + " UTC" if entry else "")
        self.engine.threshold = value  # the scoring core reads it
        rows = self.session.apply_threshold(value, card)
        self.model.rows_changed(rows)
        current = self.current_item()
        if rows and current is not None:
            self.viewer.update_score(current)
            self._refresh_review_panel()
        if source != "model card":
            self.model_label.setText(f"Model {card.id} · site threshold {value:.3f}")
        else:
            self.model_label.setText(f"Model {card.id}")

    def _accept_site_threshold(self, proposal: SiteProposal) -> str:
        if self.log is None:
            return f"the agreement log is unavailable: {self.log_error}"
        reader = self.ensure_reviewer()
        if not reader:
            return "no reader chosen: accepting is recorded under the reader's name"
        try:
            accept(self.log, proposal, reader)
        except (ReviewError, ValueError) as exc:
            return str(exc)
        log.info("site threshold %.4f accepted for model %s (was %.4f)", proposal.proposed, proposal.model_id,
                 proposal.current)
        self._apply_threshold_in_force()
        return ""

    def _revert_site_threshold(self) -> str:
        if self.log is None or self.engine is None:
            return f"the agreement log is unavailable: {self.log_error}"
        reader = self.ensure_reviewer()
        if not reader:
            return "no reader chosen: reverting is recorded under the reader's name"
        try:
            revert(self.log, self.engine.card.id, reader)
        except (ReviewError, ValueError) as exc:
            return str(exc)
        log.info("site threshold reverted for model %s", self.engine.card.id)
        self._apply_threshold_in_force()
        return ""

    def show_model_card(self) -> None:
        if self.engine is None:
            return
        self.card_dialog = ModelCardDialog(self.engine.card, str(self.engine.path), self.engine.provider,
                                           self, self.threshold_in_force)
        self.card_dialog.show()

    def show_feature_maps(self) -> None:
        if self.engine is None:
            return
        if self.feature_dialog is None:
            self.feature_dialog = FeatureMapDialog(self.engine, self.tasks.submit, self)
        self.feature_dialog.show()
        self.feature_dialog.raise_()
        item = self.current_item()
        film = self._films.get(item.path) if item is not None else None
        self.feature_dialog.set_film(film, item.name if item else "")

    def show_about(self) -> None:
        import html

        from xrayviewer.applog import log_dir

        logs = html.escape(str(log_dir()))
        QMessageBox.about(self, "About xrayviewer",
                          f"<b>xrayviewer {__version__}</b><p>{NOTICE}</p>"
                          "<p>Keys: A agree · D disagree · N normal · P pneumonia · J/K next/previous · "
                          "H heat map · F fit · Shift+N non-diagnostic · Shift+R recall.</p>"
                          "<p>View: I invert · R/L rotate · X/Y flip · 1-9 window presets · 0 reset · Z 1:1 · "
                          "M ruler.</p>"
                          f"<p>Log file and crash reports: <a href='file://{logs}'>{logs}</a></p>"
                          f"<p>Agreement log: {html.escape(str(self.log_path))}</p>")

    # -- status ---------------------------------------------------------------------------------------------

    def _update_counts(self) -> None:
        c = self.model.counts()
        self.counts_label.setText(f"{c['total']} films · {c['scored']} scored · {c['reviewed']} reviewed · "
                                  f"{c['errors']} unreadable")
        self._update_order_label()

    def _log_run_summary(self, cancelled: bool) -> None:
        """One line per scoring run in the app log: counts and speed only (no file names: they may name
        patients)."""
        out = borderline = 0
        for it in self.session.items:  # one pass: a 10,000-film study
            if it.status is Status.OK:
                if it.prediction == OUT_OF_SCOPE:
                    out += 1
                else:
                    borderline += it.borderline
        c = self.session.counts()
        seconds = time.monotonic() - self._run_started
        log.info("scoring %s: %d films, %d scored (%d from the score cache), %d unreadable, %d out of scope, "
                 "%d borderline, %d pending, %.1f s, threshold %.4f (%s), %s",
                 "cancelled" if cancelled else "done", c.total, c.scored, self._run_cached, c.errors, out,
                 borderline, c.pending, seconds, self.threshold_in_force.value, self.threshold_in_force.source,
                 self.engine.provider if self.engine is not None else "no model")

    def _log_reveal(self) -> None:
        item = self.current_item()
        film = item.sha256[:12] if item is not None and item.sha256 else "unknown"
        log.info("patient data revealed on screen by the reader for film sha256 %s…", film)

    # -- Qt events ------------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_folder(Path(urls[0].toLocalFile()))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.settings.overlay_opacity = self.viewer.opacity_slider.value() / 100.0
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, wait_ms: int = 10000) -> None:
        """Stop background work before Qt objects go away (tests call this too)."""
        self._stop_worker()
        self.scoring.cancel_all()
        self.scoring.wait(wait_ms)
        self.thumbs.shutdown()
        self.tasks.wait(wait_ms)
        if self.cache is not None:
            self.cache.prune()  # a cache, not an archive: bounded (score_cache.MAX_ROWS)
            self.cache.close()
        if self.log is not None:
            self.log.close()
            self.log = None

    def sizeHint(self) -> QSize:
        area = self._available()
        if area is None:
            return QSize(1500, 920)
        return QSize(min(1500, area.width() - 16), min(920, area.height() - 40))
