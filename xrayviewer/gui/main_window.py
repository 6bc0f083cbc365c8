"""The review window: thumbnails sorted by suspicion, the large view, the review panel and the status bar.

The window builds widgets and forwards what the reviewer does to the Qt-free
:class:`~xrayviewer.review.session.ReviewSession` (the study, decisions, run state and every review rule);
it only decides what to show. New review features belong in the session first, then get a widget here.

Threads: folder discovery, thumbnails, the selected film's full-resolution decode, feature maps and scoring
all run off the GUI thread as jobs of one mechanism (:mod:`xrayviewer.gui.background`). Only recording a
decision runs here, on purpose: it is one small SQLite commit, and the UI must not show "saved" before it
has returned.

This module composes the window (widgets, status bar, selection and display of films, the reader, decisions,
Qt events, shutdown). The rest is one job per module, each reached through the window:

* :mod:`.actions` - the menus, actions and keyboard shortcuts;
* :mod:`.scoring_controller` - the scoring run as shown: start/cancel, merging scores, progress, counts;
* :mod:`.exports` - File ▸ Export (review CSV, agreement log CSV, DICOM results);
* :mod:`.menu_dialogs` - Open from PACS, statistics, model card, feature maps, About;
* :mod:`.site_threshold` - the threshold in force (the card's, or an accepted site threshold).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from xrayviewer import NOTICE, __version__
from xrayviewer.common.vocab import Status
from xrayviewer.films import Film, discover_films, load_film
from xrayviewer.gui import exports
from xrayviewer.gui.actions import build_actions
from xrayviewer.gui.attributes import AttributesPanel
from xrayviewer.gui.background import SCORING_NICENESS, Background, Job, call_lowered
from xrayviewer.gui.dialogs import FeatureMapDialog, ModelCardDialog, StatisticsDialog, ThresholdInForce
from xrayviewer.gui.film_model import FilmListModel, FilmSortProxy
from xrayviewer.gui.lru import Lru
from xrayviewer.gui.menu_dialogs import MenuDialogs
from xrayviewer.gui.reader import BlindMode, ReaderDialog
from xrayviewer.gui.review_panel import ReviewPanel
from xrayviewer.gui.scoring_controller import AFTER_MERGE_MS, ScoringController
from xrayviewer.gui.settings import Settings
from xrayviewer.gui.site_threshold import SiteThreshold
from xrayviewer.gui.style import banner, muted
from xrayviewer.gui.thumbnails import ThumbnailDelegate, ThumbnailLoader
from xrayviewer.gui.viewer import FilmViewer
from xrayviewer.inference.engine import Engine, ModelError
from xrayviewer.inference.score_cache import ScoreCache, model_key
from xrayviewer.review import AgreementLog, ReviewError
from xrayviewer.review.session import DecisionKind, FilmItem, Filter, ReviewSession, RunState, Verdict, parse_kind
from xrayviewer.scope import ScopeError, ScopeGate

if TYPE_CHECKING:
    from xrayviewer.gui.pacs_dialog import PacsDialog

log = logging.getLogger(__name__)

DECODED_CACHE = 4  # full-resolution films kept for instant back-and-forth (they can be 100 MB each)


def _discover(folder: Path) -> list[Path]:
    """The study's films, found off the GUI thread; each path's hash is computed here too (a Path keeps it),
    so indexing 10,000 films by path on the GUI thread does not hash them there."""
    paths = discover_films(folder)
    for p in paths:
        hash(p)
    return paths


class MainWindow(QMainWindow):
    """The review window: composes the widgets and forwards the reader's actions to the session."""

    # The menus' actions, built with their shortcuts by gui/actions.py (build_actions).
    open_action: QAction
    recent_menu: QMenu
    pacs_action: QAction
    export_action: QAction
    export_log_action: QAction
    dicom_export_action: QAction
    agree_action: QAction
    disagree_action: QAction
    normal_action: QAction
    pneumonia_action: QAction
    next_action: QAction
    prev_action: QAction
    note_action: QAction
    nondiagnostic_action: QAction
    recall_action: QAction
    stats_action: QAction
    heatmap_action: QAction
    fit_action: QAction
    one_to_one_action: QAction
    invert_action: QAction
    rotate_action: QAction
    rotate_back_action: QAction
    flip_h_action: QAction
    flip_v_action: QAction
    ruler_action: QAction
    reset_view_action: QAction
    preset_actions: list[QAction]
    features_action: QAction
    score_action: QAction
    cancel_action: QAction
    card_action: QAction

    def __init__(self, *, model_path: Path | None, log_path: Path, provider: str = "auto",
                 settings: Settings | None = None, batch_size: int = 8,
                 decoder: Callable[[Path, int], Any] | None = None, cache_path: Path | None = None,
                 use_cache: bool = True) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.batch_size = batch_size
        self.decoder = decoder  # tests inject a slow decoder to exercise cancel
        self._auto_selecting = False
        self._films: Lru[Path, Film] = Lru(DECODED_CACHE)  # decoded full-resolution films
        self._current_path: Path | None = None
        self._folder_token = 0
        self._gc_frozen = False
        self.tasks = Background(self, threads=2)  # discovery, decodes, feature maps
        # a cancelled run may still finish its batch beside a new one; scoring steps aside for the GUI thread
        self.scoring = Background(self, threads=2, niceness=SCORING_NICENESS)
        self.scorer = ScoringController(self)  # starts runs on self.scoring and shows their results
        self.dialogs = MenuDialogs(self)
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
        self.site_threshold = SiteThreshold(self)
        self.cache: ScoreCache | None = None
        self.cache_key = ""
        if self.engine is not None and use_cache:
            self.cache = ScoreCache(cache_path)
            self.cache_key = model_key(self.engine.card.id, model_path)

        self._build_widgets()
        build_actions(self)
        self._build_status_bar()
        self._restore_state()
        self.site_threshold.apply()
        self._update_reader()
        self.update_counts()

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

    def open_folder(self, folder: Path, select: Path | None = None) -> None:
        """Discover films off the GUI thread, then show them (selecting `select`) and start scoring."""
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            QMessageBox.warning(self, "Cannot open folder", f"Not a folder: {folder}")
            return
        folder = folder.resolve()
        self.scorer.stop()
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
        self.update_counts()
        if self.engine is not None and paths:
            self.start_scoring()
        elif paths:
            self.select_top()

    # -- scoring (gui/scoring_controller.py) ----------------------------------------------------------------

    def start_scoring(self) -> None:
        """Score every film not scored yet (all of them for a new folder; the rest after a cancel)."""
        self.scorer.start()

    def cancel_scoring(self) -> None:
        """Scoring ▸ Cancel: the run stops after its batch in flight."""
        self.scorer.cancel()

    @property
    def worker(self) -> Job | None:
        """The scoring run whose results are shown (None when idle)."""
        return self.scorer.worker

    @property
    def _run_cached(self) -> int:
        """Scores of the current or last run taken from the score cache (read by tests and bench_gui)."""
        return self.scorer.cached

    # -- selection and display -----------------------------------------------------------------------------

    def current_item(self) -> FilmItem | None:
        return self.proxy.item_at(self.list_view.currentIndex())

    def select_top(self) -> None:
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

    def keep_current_in_view(self) -> None:
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
        self.refresh_review_panel()
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

    def decoded_film(self, path: Path) -> Film | None:
        """The film at ``path`` if it is among the last few decoded at full resolution, else None."""
        return self._films.get(path)

    def _show_if_current(self, path: Path) -> None:
        item, film = self.current_item(), self._films.get(path)
        if item is not None and film is not None and item.path == path:
            self._show_film(film, item)

    def _show_film(self, film: Film, item: FilmItem) -> None:
        self.viewer.set_film(film, item)
        self.attributes.set_meta(film.meta, film.phi_keys, film.format)
        if self.feature_dialog is not None and self.feature_dialog.isVisible():
            self.feature_dialog.set_film(film, item.name)
        self.refresh_review_panel()

    def refresh_review_panel(self) -> None:
        """The review panel for the current film: what may be recorded, and its decision history."""
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
            self.update_counts()
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
            self.select_top()  # this reader's first unreviewed film
        self.refresh_review_panel()
        self.update_counts()

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
        self.update_counts()
        if target is not None:
            self.select_path(target.path)
        else:
            self.refresh_review_panel()

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
        self.update_counts()
        if target is not None:
            self.select_path(target.path)

    def _display_order(self) -> Sequence[FilmItem]:
        return self.proxy.items_in_order()

    # -- File and Help menus (gui/exports.py, gui/menu_dialogs.py) ------------------------------------------

    def open_from_pacs(self) -> None:
        """File ▸ Open from PACS: search, fetch a study into the cache, open it like a folder."""
        self.dialogs.open_from_pacs()

    def export_csv(self) -> None:
        """File ▸ Export review CSV: one row per film of this study for the current reader."""
        exports.export_csv(self)

    def export_log_csv(self) -> None:
        """File ▸ Export the whole agreement log: every study's latest decision per film and reader."""
        exports.export_log_csv(self)

    def export_dicom(self) -> None:
        """File ▸ Export DICOM results: an SR and a heat-map capture per scored DICOM film of this study."""
        exports.export_dicom(self)

    def export_folder(self) -> Path:
        """Where exports are offered (never inside the study folder unless the reader puts them there)."""
        return exports.export_folder(self)

    def default_export_path(self, what: str = "review") -> Path:
        """``<study>-<what>-<date>.csv`` in :meth:`export_folder`."""
        return exports.default_export_path(self, what)

    def show_statistics(self) -> None:
        """Review ▸ Agreement statistics (with the drift check and the site threshold)."""
        self.dialogs.show_statistics()

    def show_model_card(self) -> None:
        """Help ▸ Model card."""
        self.dialogs.show_model_card()

    def show_feature_maps(self) -> None:
        """View ▸ Feature maps of the selected film."""
        self.dialogs.show_feature_maps()

    def show_about(self) -> None:
        """Help ▸ About xrayviewer."""
        self.dialogs.show_about()

    @property
    def pacs_dialog(self) -> PacsDialog | None:
        return self.dialogs.pacs

    @property
    def stats_dialog(self) -> StatisticsDialog | None:
        return self.dialogs.statistics

    @property
    def card_dialog(self) -> ModelCardDialog | None:
        return self.dialogs.card

    @property
    def feature_dialog(self) -> FeatureMapDialog | None:
        return self.dialogs.features

    # -- the threshold in force (gui/site_threshold.py) -----------------------------------------------------

    @property
    def threshold_in_force(self) -> ThresholdInForce:
        """The operating threshold every call uses: the model card's, or the site's once accepted."""
        return self.site_threshold.in_force

    # -- status ---------------------------------------------------------------------------------------------

    def update_counts(self) -> dict[str, int]:
        """The status bar's counts (a pass over every film: the scoring controller calls it after a merge);
        returned, so a caller that needs them does not count 10,000 films again."""
        c = self.model.counts()
        self.counts_label.setText(f"{c['total']} films · {c['scored']} scored · {c['reviewed']} reviewed · "
                                  f"{c['errors']} unreadable")
        self._update_order_label()
        return c

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
        self.scorer.stop()
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
