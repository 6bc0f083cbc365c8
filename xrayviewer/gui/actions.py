"""The window's menus, actions and keyboard shortcuts: every key the reader can press is listed here.

Each action is stored on the window under a stable name (``window.export_action``, ``window.score_action``, …:
tests, the screenshot script and the scoring controller use them) and added to the window itself, so its
shortcut works even when the menu bar is hidden. The slots stay on the window; this module only wires them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from xrayviewer.common.vocab import Label
from xrayviewer.gui.settings import Settings
from xrayviewer.review.log import NON_DIAGNOSTIC, RECALL
from xrayviewer.review.session import Verdict

if TYPE_CHECKING:
    from xrayviewer.gui.main_window import MainWindow


def make_action(window: QWidget, text: str, slot: Callable[..., Any], shortcuts: list[str] | str | None = None,
                tip: str = "") -> QAction:
    """An action on ``window`` calling ``slot()`` (without Qt's ``checked`` argument)."""
    action = QAction(text, window)
    if shortcuts:
        keys = [shortcuts] if isinstance(shortcuts, str) else shortcuts
        action.setShortcuts([QKeySequence(k) for k in keys])
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda _=False: slot())
    window.addAction(action)  # shortcuts work even when the menu bar is hidden
    return action


def fill_recent_menu(menu: QMenu, settings: Settings, open_folder: Callable[[Path], None]) -> None:
    """File ▸ Recent folders, refilled each time it opens (another window may have added one)."""
    menu.clear()
    recent = settings.recent_folders
    for folder in recent:
        action = menu.addAction(folder)
        action.triggered.connect(lambda _=False, f=folder: open_folder(Path(f)))
    if not recent:
        menu.addAction("(none)").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("Clear list", settings.clear_recent)


def build_actions(w: MainWindow) -> None:
    """The menu bar (File, Review, View, Scoring, Help) and every shortcut, stored on the window."""
    def act(text: str, slot: Callable[..., Any], shortcuts: list[str] | str | None = None) -> QAction:
        return make_action(w, text, slot, shortcuts)

    bar = w.menuBar()
    m = bar.addMenu("&File")
    w.open_action = act("&Open folder…", w.choose_folder, "Ctrl+O")
    m.addAction(w.open_action)
    w.recent_menu = m.addMenu("Recent folders")
    w.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(w.recent_menu, w.settings, w.open_folder))
    fill_recent_menu(w.recent_menu, w.settings, w.open_folder)
    w.pacs_action = act("Open from &PACS…", w.open_from_pacs, "Ctrl+Shift+O")
    m.addAction(w.pacs_action)
    m.addSeparator()
    w.export_action = act("&Export review CSV (this study, one row per film)…", w.export_csv, "Ctrl+E")
    w.export_log_action = act("Export the whole agreement &log…", w.export_log_csv)
    m.addActions([w.export_action, w.export_log_action])
    w.dicom_export_action = act("Export &DICOM results…", w.export_dicom)
    m.addAction(w.dicom_export_action)
    m.addSeparator()
    m.addAction(act("&Quit", w.close, "Ctrl+Q"))

    m = bar.addMenu("&Review")
    w.agree_action = act("&Agree with the model", lambda: w.decide(Verdict.AGREE), "A")
    w.disagree_action = act("&Disagree with the model", lambda: w.decide(Verdict.DISAGREE), "D")
    w.normal_action = act("Label &NORMAL", lambda: w.decide(Label.NORMAL), "N")
    w.pneumonia_action = act("Label &PNEUMONIA", lambda: w.decide(Label.PNEUMONIA), "P")
    w.next_action = act("&Next film", lambda: w.step(+1), ["J", "Down", "Right"])
    w.prev_action = act("&Previous film", lambda: w.step(-1), ["K", "Up", "Left"])
    w.note_action = act("Add a note…", w.review_panel.note.setFocus, "Ctrl+N")
    w.nondiagnostic_action = act("Unreadable film: non-&diagnostic", lambda: w.decide_unreadable(NON_DIAGNOSTIC),
                                 "Shift+N")
    w.recall_action = act("Unreadable film: &recall for a new film", lambda: w.decide_unreadable(RECALL),
                          "Shift+R")
    for a in (w.agree_action, w.disagree_action, w.normal_action, w.pneumonia_action):
        m.addAction(a)
    m.addActions([w.nondiagnostic_action, w.recall_action])
    m.addSeparator()
    m.addActions([w.next_action, w.prev_action, w.note_action])
    m.addSeparator()
    m.addAction(act("Change reader…", w.change_reviewer))
    w.stats_action = act("Agreement &statistics…", w.show_statistics, "Ctrl+T")
    m.addAction(w.stats_action)

    m = bar.addMenu("&View")
    v = w.viewer
    w.heatmap_action = act("Toggle &heat map", v.toggle_overlay, "H")
    w.fit_action = act("&Fit film to view", v.fit, "F")
    w.one_to_one_action = act("&Zoom 1:1 (one film pixel per screen pixel)", v.zoom_one_to_one, "Z")
    w.invert_action = act("&Invert", v.toggle_invert, "I")
    w.rotate_action = act("&Rotate 90° clockwise", lambda: v.rotate(1), "R")
    w.rotate_back_action = act("Rotate 90° anticlockwise", lambda: v.rotate(-1), "L")
    w.flip_h_action = act("Flip left-right", lambda: v.flip(horizontal=True), "X")
    w.flip_v_action = act("Flip top-bottom", lambda: v.flip(horizontal=False), "Y")
    w.ruler_action = act("&Measure (ruler, mm from the DICOM pixel spacing)", v.toggle_ruler, "M")
    w.reset_view_action = act("Reset view (window, rotation, flips, invert, zoom)", v.reset_view, "0")
    m.addActions([w.heatmap_action, w.fit_action, w.one_to_one_action])
    m.addSeparator()
    m.addActions([w.invert_action, w.rotate_action, w.rotate_back_action, w.flip_h_action, w.flip_v_action,
                  w.ruler_action, w.reset_view_action])
    presets = m.addMenu("Window / level presets")
    w.preset_actions = []
    for n in range(1, 10):
        text = {1: "Auto (0.5–99.5 %)", 2: "Full range"}.get(n, f"Film's preset {n - 2}")
        action = act(f"&{n}  {text}", lambda n=n: v.apply_preset(n), str(n))
        presets.addAction(action)
        w.preset_actions.append(action)
    m.addSeparator()
    w.features_action = act("Feature &maps…", w.show_feature_maps, "Ctrl+M")
    w.features_action.setEnabled(w.engine is not None)
    m.addAction(w.features_action)

    m = bar.addMenu("&Scoring")
    w.score_action = act("Score &remaining films", w.start_scoring, "Ctrl+R")
    w.cancel_action = act("&Cancel scoring", w.cancel_scoring)
    w.score_action.setEnabled(w.engine is not None)
    w.cancel_action.setEnabled(False)
    m.addActions([w.score_action, w.cancel_action])

    m = bar.addMenu("&Help")
    w.card_action = act("&Model card…", w.show_model_card)
    w.card_action.setEnabled(w.engine is not None)
    m.addAction(w.card_action)
    m.addAction(act("&About xrayviewer", w.show_about))
