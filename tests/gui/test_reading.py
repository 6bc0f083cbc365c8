"""A reading workstation on real widgets (issue 11 points 2, 4-8; issue 8 points 4-5 in the app): who reads
and blinded reading, a list that holds still, scores cached between sessions, unreadable films decided and
exported, borderline marks, the site threshold, the model card's limits, a window that fits 1366x768, and an
app log with no patient data."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QDialogButtonBox, QStyleOptionViewItem

from tests.films.testkit import make_dataset, save
from tests.gui.conftest import BROKEN_NAME, WAIT_MS, open_and_score
from tests.helpers.tiny_model import build_tiny_model
from xrayviewer.common.vocab import Status
from xrayviewer.gui.reader import BlindMode, ReaderDialog
from xrayviewer.gui.thumbnails import BORDERLINE_COLOUR
from xrayviewer.inference import scoring
from xrayviewer.inference.card import ModelCard
from xrayviewer.paths import samples_dir
from xrayviewer.review import AgreementLog
from xrayviewer.review.log import NON_DIAGNOSTIC, Decision
from xrayviewer.review.session import Filter, ReviewState, RunState


def order(w: Any) -> list[Any]:
    return w.proxy.items_in_order()


def key(qtbot: Any, w: Any, k: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(w.list_view, k, modifier)


# -- who is reading ------------------------------------------------------------------------------------------------

def test_reader_dialog_offers_known_readers_and_needs_a_name(qtbot: Any) -> None:
    d = ReaderDialog(["dr.b", "Dr A"], last="Dr A", blind=BlindMode.AUTO)
    qtbot.addWidget(d)
    assert [d.names.itemText(i) for i in range(d.names.count())] == ["Dr A", "dr.b"]
    assert d.names.currentText() == "Dr A" and "confirm it is you" in d.intro.text()
    ok = d.buttons.button(QDialogButtonBox.StandardButton.Ok)
    d.names.setCurrentText("   ")
    assert not ok.isEnabled()  # no reading without a name
    d.names.setCurrentText("Dr New")  # add one
    d.blind.setCurrentIndex(d.blind.findData(BlindMode.ON.value))
    assert ok.isEnabled()
    choice = d.choice()
    assert choice.name == "Dr New" and choice.blind is BlindMode.ON


def test_blinded_reading_hides_other_readers_until_decided(qtbot: Any, make_window: Any, study: Path,
                                                          isolated: Any, tmp_path: Path) -> None:
    w = make_window()
    open_and_score(qtbot, w, study)
    w.set_reader("Dr A")
    assert w.reader_label.text() == "Reader: Dr A"
    top = w.current_item()
    key(qtbot, w, Qt.Key.Key_P)
    w.close()

    w2 = make_window()
    open_and_score(qtbot, w2, study)
    w2.set_reader("Dr B")  # a second reader on the same study: blinded by default
    assert w2.reader_label.text() == "Reader: Dr B (blinded)" and "(blinded)" in w2.review_panel.reviewer_label.text()
    w2.select_path(top.path)
    text = w2.review_panel.history.text()
    assert "Dr A" not in text and "1 decision by other readers" in text and "hidden" in text
    key(qtbot, w2, Qt.Key.Key_N)  # Dr B decides...
    w2.select_path(top.path)
    assert "Dr A: PNEUMONIA" in w2.review_panel.history.text()  # ...then sees Dr A's call
    w2.set_reader("Dr B", BlindMode.OFF)
    assert w2.reader_label.text() == "Reader: Dr B"


# -- a list that holds still ---------------------------------------------------------------------------------------

def test_list_holds_still_while_scores_arrive_and_jk_follow_the_visible_order(qtbot: Any, make_window: Any,
                                                                              tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    src = sorted(samples_dir().glob("*.jpeg"))
    for i in range(48):
        shutil.copy(src[i % len(src)], folder / f"film{i:03d}.jpeg")
    gate = threading.Event()

    def gated(path: Path, size: int) -> Any:
        if int(path.stem.removeprefix("film")) >= 4:
            gate.wait(WAIT_MS / 1000)
        return scoring._decode(path, size)

    w = make_window(decoder=gated, batch_size=4)
    w.resize(900, 600)  # a short list: most tiles are out of view
    w.open_folder(folder)
    qtbot.waitUntil(lambda: w.model.counts()["scored"] >= 4, timeout=WAIT_MS)
    w.select_row(6)  # the reader picks a pending film: every score that lands re-sorts films above it
    chosen = w.current_item()
    gate.set()
    qtbot.waitUntil(lambda: w.run_state is RunState.DONE, timeout=WAIT_MS)
    current = w.list_view.currentIndex()
    assert w.current_item() is chosen
    assert w.list_view.selectionModel().selectedIndexes() == [current]  # the highlighted film is the current one
    assert w.list_view.viewport().rect().intersects(w.list_view.visualRect(current))  # and still in view
    shown = order(w)
    row = 10
    w.select_row(row)
    key(qtbot, w, Qt.Key.Key_J)
    assert w.current_item() is shown[row + 1]
    assert w.list_view.selectionModel().selectedIndexes() == [w.list_view.currentIndex()]
    key(qtbot, w, Qt.Key.Key_K)
    key(qtbot, w, Qt.Key.Key_K)
    assert w.current_item() is shown[row - 1]


# -- scores cached between sessions --------------------------------------------------------------------------------

def test_reopening_a_scored_study_takes_every_score_from_the_cache(qtbot: Any, make_window: Any, study: Path,
                                                                   tmp_path: Path) -> None:
    w = make_window()
    open_and_score(qtbot, w, study)
    first = {it.path: (it.probability, it.prediction) for it in w.model.items if it.status == Status.OK}
    assert w._run_cached == 0
    w.close()

    decoded: list[Path] = []

    def counting(path: Path, size: int) -> Any:
        decoded.append(path)
        return scoring._decode(path, size)

    w2 = make_window(decoder=counting)  # same cache file (per test), a new session
    open_and_score(qtbot, w2, study)
    assert w2._run_cached == 16
    assert decoded == [study.resolve() / BROKEN_NAME]  # only the unreadable film is tried again
    again = {it.path: (it.probability, it.prediction) for it in w2.model.items if it.status == Status.OK}
    assert again == first
    assert all(it.cam is not None for it in w2.model.items if it.status == Status.OK)  # heat maps too


def test_another_model_scores_afresh(qtbot: Any, make_window: Any, study: Path, tmp_path: Path) -> None:
    w = make_window()
    open_and_score(qtbot, w, study)
    w.close()
    other = build_tiny_model(tmp_path / "other.onnx", gain=4.0, card=ModelCard(
        id="another-tiny-model", input_size=64, threshold=0.5, threshold_rule="test"))
    w2 = make_window(model_path=other)
    open_and_score(qtbot, w2, study)
    assert w2._run_cached == 0 and w2.model.counts()["scored"] == 16


# -- unreadable films ------------------------------------------------------------------------------------------------

def test_unreadable_film_marked_non_diagnostic(qtbot: Any, scored: Any, isolated: Any, tmp_path: Path) -> None:
    scored.set_filter(Filter.UNREADABLE)
    scored.select_row(0)
    item = scored.current_item()
    assert item.status == Status.ERROR
    assert scored.review_panel.unreadable_buttons[NON_DIAGNOSTIC].isVisible()
    assert scored.review_panel.unreadable_buttons[NON_DIAGNOSTIC].isEnabled()
    key(qtbot, scored, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert item.review_state is ReviewState.FLAGGED and item.unreadable_decision.decision == NON_DIAGNOSTIC
    assert scored.model.counts()["reviewed"] == 1
    with AgreementLog(tmp_path / "log.sqlite3", readonly=True) as log:
        (logged,) = log.latest_unreadable()
    assert logged.reviewer == "Dr Test" and logged.path.endswith(BROKEN_NAME) and logged.error == item.error
    isolated.save_path = str(tmp_path / "out.csv")
    scored.export_action.trigger()
    assert NON_DIAGNOSTIC in (tmp_path / "out.csv").read_text()


# -- borderline calls --------------------------------------------------------------------------------------------------

@pytest.fixture
def banded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a wide borderline band, limits for readers and a developer key."""
    card = ModelCard(id="tiny-banded", input_size=64, threshold=0.5, threshold_rule="fixed for tests",
                     borderline=[0.05, 0.95], limits=["Only for tests: never read a film with it."],
                     temperature=1.5, calibration={"method": "temperature scaling", "val_ece_before": 0.09,
                                                   "val_ece_after": 0.02},
                     val_metrics={"sensitivity": 0.97, "specificity": 0.9},
                     extra={"member_seeds": [1, 2, 3]}, feature_outputs=["feat_secret_dev_name"])
    return build_tiny_model(tmp_path_factory.mktemp("banded") / "banded.onnx", card=card)


def test_borderline_calls_are_marked_on_tile_viewer_and_panel(qtbot: Any, make_window: Any, study: Path,
                                                              banded: Path) -> None:
    w = make_window(model_path=banded)
    open_and_score(qtbot, w, study)
    marked = [it for it in w.model.items if it.borderline]
    assert marked and all(it.judged for it in marked)
    w.select_path(marked[0].path)
    qtbot.waitUntil(lambda: w.viewer.item is marked[0], timeout=WAIT_MS)
    assert "borderline" in w.viewer.header.text() and "borderline" in w.viewer.subheader.text()
    assert "Borderline call" in w.review_panel.status.text()
    index = w.list_view.currentIndex()
    assert "borderline" in index.data(Qt.ItemDataRole.ToolTipRole)
    # the tile itself carries an amber mark
    delegate = w.list_view.itemDelegate()
    image = QImage(200, 200, QImage.Format.Format_RGB32)
    image.fill(QColor("black"))
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 160, 180)
    option.palette = w.list_view.palette()
    painter = QPainter(image)
    delegate.paint(painter, option, index)
    painter.end()
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(200, 200, 4)[..., :3]  # BGRX
    amber = np.array([BORDERLINE_COLOUR.blue(), BORDERLINE_COLOUR.green(), BORDERLINE_COLOUR.red()])
    assert (np.abs(pixels.astype(int) - amber).sum(axis=-1) < 30).sum() > 50


# -- the site threshold ------------------------------------------------------------------------------------------------

def fill_site_labels(log_path: Path, model_id: str) -> None:
    """40 pneumonia and 40 normal films labelled by readers; the model misses pneumonias at 0.5."""
    rng = np.random.default_rng(0)
    with AgreementLog(log_path) as log:
        for i in range(80):
            pneumonia = i < 40
            p = float(rng.uniform(0.3, 0.95) if pneumonia else rng.uniform(0.01, 0.45))
            call = "PNEUMONIA" if p >= 0.5 else "NORMAL"
            log.record(Decision(sha256=f"{i:064x}", path=f"/old/{i}.png", study="/old", model_id=model_id,
                                probability=p, model_call=call, threshold=0.5, reviewer="dr.old",
                                decision="PNEUMONIA" if pneumonia else "NORMAL"))


def test_site_threshold_accept_use_show_and_revert(qtbot: Any, make_window: Any, study: Path, banded: Path,
                                                   tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="xrayviewer")
    log_path = tmp_path / "site.sqlite3"
    fill_site_labels(log_path, "tiny-banded")
    w = make_window(model_path=banded, log_path=log_path)
    open_and_score(qtbot, w, study)
    w.set_reader("Dr Site")
    w.stats_action.trigger()
    d = w.stats_dialog
    qtbot.addWidget(d)
    assert "on 0 films" in d.drift.text()  # this study: nobody has labelled it yet
    d.only_study.setChecked(False)  # every study
    assert "sensitivity" in d.drift.text() and "card 97.0%" in d.drift.text()
    assert "LOWER than the card" in d.drift.text()  # stated plainly
    assert d.proposal is not None and "Site threshold" in d.proposal_label.text()
    assert d.accept_button.isEnabled() and not d.revert_button.isEnabled()
    proposed = d.proposal.proposed
    d.accept_button.click()
    # in force everywhere: the engine, every call in the session, the card dialog, the log
    assert w.engine.threshold == pytest.approx(proposed)
    assert all(it.threshold == pytest.approx(proposed) for it in w.model.items if it.judged)
    assert all(it.prediction == ("PNEUMONIA" if it.probability >= proposed else "NORMAL")
               for it in w.model.items if it.judged)
    with AgreementLog(log_path, readonly=True) as log:
        entry = log.site_threshold("tiny-banded")
    assert entry is not None and entry.reviewer == "Dr Site" and entry.threshold == pytest.approx(proposed)
    w.card_action.trigger()
    text = w.card_dialog.browser.toPlainText()
    assert f"{proposed:.4f}" in text and "SITE THRESHOLD accepted by Dr Site" in text
    assert d.revert_button.isEnabled()
    d.revert_button.click()
    assert w.engine.threshold == 0.5
    assert all(it.threshold == 0.5 for it in w.model.items if it.judged)
    assert "site threshold" not in w.model_label.text()
    assert any("site threshold" in r.getMessage() and "accepted" in r.getMessage() for r in caplog.records)
    # a new session starts with the threshold in force (here the card's again)
    with AgreementLog(log_path) as log:
        log.record_site_threshold("tiny-banded", "accept", 0.3, "Dr Site")
    w2 = make_window(model_path=banded, log_path=log_path)
    assert w2.engine.threshold == 0.3 and "site threshold 0.300" in w2.model_label.text()


# -- model card, window size, statistics, filters, app log ------------------------------------------------------------

def test_model_card_shows_limits_and_hides_developer_keys(qtbot: Any, make_window: Any, banded: Path) -> None:
    w = make_window(model_path=banded)
    w.card_action.trigger()
    text = w.card_dialog.browser.toPlainText()
    qtbot.addWidget(w.card_dialog)
    assert "Limits — read before use" in text and "never read a film with it" in text
    assert "temperature 1.5" in text and "0.090 before, 0.020 after" in text
    assert "5.0% to 95.0%" in text  # the borderline band
    assert "Threshold in force" in text and "the model card's" in text
    assert "member_seeds" not in text and "feat_secret_dev_name" not in text and "Extra" not in text


def test_window_fits_a_1366x768_screen(make_window: Any) -> None:
    w = make_window()
    w.resize(1500, 920)
    w.fit_to_screen(QRect(0, 0, 1366, 768))
    assert w.frameGeometry().width() <= 1366 and w.frameGeometry().height() <= 768
    hint = w.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 740  # every widget fits, with room for a taskbar


def test_statistics_all_row_counts_films(qtbot: Any, make_window: Any, study: Path) -> None:
    w = make_window()
    open_and_score(qtbot, w, study)
    w.set_reader("Dr A")
    w.select_row(0)
    key(qtbot, w, Qt.Key.Key_A)
    key(qtbot, w, Qt.Key.Key_A)
    w.set_reader("Dr B", BlindMode.OFF)
    w.select_row(0)
    key(qtbot, w, Qt.Key.Key_A)
    key(qtbot, w, Qt.Key.Key_A)
    w.stats_action.trigger()
    table = w.stats_dialog.table
    qtbot.addWidget(w.stats_dialog)
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows == {"Dr A": "2", "Dr B": "2", "ALL reviewers": "2 (4 decisions)"}


def test_home_end_in_the_show_box_never_leaves_an_empty_list_unexplained(qtbot: Any, scored: Any) -> None:
    assert scored.filter_combo.focusPolicy() == Qt.FocusPolicy.ClickFocus  # Tab/keys never land there
    scored.filter_combo.setFocus()
    qtbot.keyClick(scored.filter_combo, Qt.Key.Key_End)  # the last filter: out of scope, none here
    assert scored.proxy.rowCount() == 0
    assert "No films match" in scored.order_label.text()
    assert scored.list_view.hasFocus() or not scored.filter_combo.hasFocus()  # keys go back to the list
    qtbot.keyClick(scored.filter_combo, Qt.Key.Key_Home)
    assert scored.proxy.rowCount() == 17 and "No films match" not in scored.order_label.text()


def test_app_log_records_reveals_exports_and_runs_without_patient_data(
        qtbot: Any, make_window: Any, tmp_path: Path, isolated: Any, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "Doe_Jane_P-0001"  # a study folder named after the patient, as happens
    folder.mkdir()
    px = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)
    save(make_dataset(px, bits_stored=12), folder / "Doe_Jane.dcm")
    caplog.set_level(logging.INFO, logger="xrayviewer")
    w = make_window()
    open_and_score(qtbot, w, folder)
    w.attributes.reveal_button.click()
    isolated.save_path = str(tmp_path / "out.csv")
    w.export_action.trigger()
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("xrayviewer.gui")]
    assert any("patient data revealed" in m for m in messages)
    assert any("exported the study CSV: 1 films" in m for m in messages)
    assert any(m.startswith("scoring done: 1 films, 1 scored") for m in messages)
    for m in messages:
        for secret in ("Doe", "Jane", "P-0001", str(tmp_path)):
            assert secret not in m, m


def test_every_launch_asks_who_is_reading(qtbot: Any, monkeypatch: pytest.MonkeyPatch, tiny_model: Path,
                                          tmp_path: Path, isolated: Any) -> None:
    """`xrayviewer gui` (gui.app.main) asks before the event loop starts, the last reader preselected."""
    from PySide6.QtWidgets import QApplication

    from xrayviewer.gui import app, main_window

    windows: list[Any] = []
    monkeypatch.setattr(QApplication, "exec", lambda *_: 0)  # return at once instead of running the loop
    real_init = main_window.MainWindow.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cache_path", tmp_path / "cache.sqlite3")
        real_init(self, *args, **kwargs)
        windows.append(self)

    monkeypatch.setattr(main_window.MainWindow, "__init__", init)
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("Dr Test", "Dr Two"):
        isolated.reviewer = name
        assert app.main(empty, model_path=tiny_model, log_path=tmp_path / "log.sqlite3") == 0
        assert windows[-1].session.reviewer == name and f"Reader: {name}" in windows[-1].reader_label.text()
        windows[-1].shutdown()
        windows[-1].close()
    assert isolated.reviewer_asked == 2
    assert isolated.reader_offers[-1] == (["Dr Test"], "Dr Test")  # the last one offered, not assumed
