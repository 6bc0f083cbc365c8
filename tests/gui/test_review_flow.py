"""Drive the real window with the tiny model: scoring order, overlay, review keys, export, cancel, errors."""

from __future__ import annotations

import csv
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import BROKEN_NAME, WAIT_MS, open_and_score
from xrayviewer.common.vocab import Status
from xrayviewer.films import discover_films
from xrayviewer.gui.settings import Settings
from xrayviewer.inference import scoring
from xrayviewer.review import AgreementLog
from xrayviewer.review.session import Filter, RunState


def order(window: Any) -> list[Any]:
    return [window.proxy.item_at(window.proxy.index(r, 0)) for r in range(window.proxy.rowCount())]


def key(qtbot: Any, window: Any, k: Qt.Key) -> None:
    qtbot.keyClick(window.list_view, k)


def test_scores_everything_sorted_most_suspicious_first(scored: Any) -> None:
    items = order(scored)
    assert len(items) == 17
    ok = [it for it in items if it.status == Status.OK]
    assert len(ok) == 16
    probs = [it.probability for it in ok]
    assert probs == sorted(probs, reverse=True)
    assert items[-1].name == BROKEN_NAME and items[-1].status == Status.ERROR  # unreadable last
    assert all(it.prediction == ("PNEUMONIA" if it.probability >= 0.5 else "NORMAL") for it in ok)
    assert scored.model.counts() == {"total": 17, "scored": 16, "errors": 1, "reviewed": 0, "pending": 0}
    assert "16 scored" in scored.counts_label.text() and "1 unreadable" in scored.counts_label.text()
    assert scored.provider_label.text() == "Running on CPU"
    assert "tiny-test-model" in scored.model_label.text()
    assert scored.notice.isVisible() and "not a diagnosis" in scored.notice.text()
    # nobody picked a film yet, so the large view shows the most suspicious one
    assert scored.current_item().path == ok[0].path


def test_overlay_covers_the_film_and_h_toggles_it(qtbot: Any, scored: Any) -> None:
    scored.select_row(0)
    top = order(scored)[0]
    qtbot.waitUntil(lambda: scored.viewer.film is not None and scored.viewer.item is top, timeout=WAIT_MS)
    v = scored.viewer
    h, w = v.film.pixels.shape
    assert v.overlay.isVisible()
    assert v.overlay_rect() == QRectF(0, 0, w, h)  # CAM stretched over the whole film
    assert v.image.mapRectToParent(v.image.boundingRect()) == QRectF(0, 0, w, h)
    assert v.view.yInverted()  # row 0 at the top: the film is upright
    assert "PNEUMONIA" in v.header.text() and f"{top.probability:.1%}" in v.header.text()
    # the CAM's hottest cell is where the overlay is most opaque
    cam = np.asarray(top.cam)
    overlay = v.overlay.image
    cy, cx = np.unravel_index(np.argmax(cam), cam.shape)
    oy, ox = np.unravel_index(np.argmax(overlay[..., 3]), overlay.shape[:2])
    assert abs(oy / overlay.shape[0] - (cy + 0.5) / cam.shape[0]) < 1.0 / cam.shape[0]
    assert abs(ox / overlay.shape[1] - (cx + 0.5) / cam.shape[1]) < 1.0 / cam.shape[1]
    key(qtbot, scored, Qt.Key.Key_H)
    assert not v.overlay.isVisible() and not v.overlay_check.isChecked()
    key(qtbot, scored, Qt.Key.Key_H)
    assert v.overlay.isVisible()
    v.set_opacity(0.8)
    assert v.overlay.opacity() == pytest.approx(0.8)
    assert Settings().overlay_opacity == pytest.approx(0.8)


def test_review_keys_record_in_the_log_and_advance(qtbot: Any, scored: Any, isolated: Any,
                                                   tmp_path: Path) -> None:
    scored.select_row(0)
    first = order(scored)[0]
    key(qtbot, scored, Qt.Key.Key_A)
    assert isolated.reviewer_asked == 1
    with AgreementLog(tmp_path / "log.sqlite3", readonly=True) as log:
        rows = log.latest()
    assert len(rows) == 1
    d = rows[0]
    assert (d.sha256, d.reviewer, d.decision, d.model_call) == (first.sha256, "Dr Test", first.prediction,
                                                                first.prediction)
    assert d.agrees and d.study == str(scored.folder) and d.model_id == "tiny-test-model"
    assert d.probability == pytest.approx(first.probability)
    assert first.decision is not None and first.review_state == "agreed"
    assert f"Last saved: {first.name}" in scored.review_panel.last_saved.text()
    # auto-advance to the next unreviewed film
    second = scored.current_item()
    assert second is order(scored)[1]

    scored.review_panel.note.setText("left lower lobe?")
    key(qtbot, scored, Qt.Key.Key_D)
    third = scored.current_item()
    assert third is order(scored)[2]
    key(qtbot, scored, Qt.Key.Key_N)
    key(qtbot, scored, Qt.Key.Key_P)
    with AgreementLog(tmp_path / "log.sqlite3", readonly=True) as log:
        by_sha = {r.sha256: r for r in log.latest()}
    assert len(by_sha) == 4
    assert by_sha[second.sha256].decision != second.prediction and not by_sha[second.sha256].agrees
    assert by_sha[second.sha256].note == "left lower lobe?"
    assert by_sha[third.sha256].decision == "NORMAL"
    assert by_sha[order(scored)[3].sha256].decision == "PNEUMONIA"
    assert scored.review_panel.note.text() == ""
    assert isolated.reviewer_asked == 1  # asked once
    assert Settings().reviewer == "Dr Test"
    assert scored.model.counts()["reviewed"] == 4

    # Going back and changing one's mind adds a row; the latest counts.
    scored.select_path(first.path)
    key(qtbot, scored, Qt.Key.Key_D)
    with AgreementLog(tmp_path / "log.sqlite3", readonly=True) as log:
        assert log.count() == 5
        assert log.current(first.sha256, "Dr Test").agrees is False
    assert first.review_state == "disagreed"

    # filters: disagreements and unreviewed
    scored.set_filter(Filter.DISAGREEMENTS)
    names = {it.name for it in order(scored)}
    assert names == {first.name, second.name} | {it.name for it in (third, order(scored)[-1])
                                                   if it.decision and not it.decision.agrees}
    scored.set_filter(Filter.UNREVIEWED)
    assert all(it.decision is None and it.status != Status.ERROR for it in order(scored))
    assert len(order(scored)) == 12


def test_navigation_keys(qtbot: Any, scored: Any) -> None:
    scored.select_row(0)
    for k, row in ((Qt.Key.Key_J, 1), (Qt.Key.Key_Down, 2), (Qt.Key.Key_Right, 3), (Qt.Key.Key_K, 2),
                   (Qt.Key.Key_Up, 1), (Qt.Key.Key_Left, 0), (Qt.Key.Key_Left, 0)):
        key(qtbot, scored, k)
        assert scored.list_view.currentIndex().row() == row, k
    # typing a note does not trigger shortcuts
    scored.review_panel.note.setFocus()
    qtbot.keyClicks(scored.review_panel.note, "adp")
    assert scored.review_panel.note.text() == "adp"
    assert scored.model.counts()["reviewed"] == 0


def test_export_csv_one_row_per_film_matches_log(qtbot: Any, scored: Any, isolated: Any, tmp_path: Path,
                                                study: Path) -> None:
    scored.select_row(0)
    for k in (Qt.Key.Key_A, Qt.Key.Key_D, Qt.Key.Key_N):
        key(qtbot, scored, k)
    default = scored.default_export_path()
    assert study.resolve() not in default.parents and default.suffix == ".csv"  # never into the study folder
    isolated.save_path = str(tmp_path / "out.csv")
    scored.export_action.trigger()
    assert any("Wrote 17 films (3 reviewed, 14 not)" in t for t in isolated.texts("information"))
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with AgreementLog(tmp_path / "log.sqlite3", readonly=True) as log:
        logged = {d.sha256: d for d in log.latest()}
    assert len(rows) == 17 and len({r["path"] for r in rows}) == 17  # one row per film, as the README says
    decided = [r for r in rows if r["decision"]]
    assert {r["sha256"] for r in decided} == set(logged)
    for r in decided:
        d = logged[r["sha256"]]
        assert (r["decision"], r["model_call"], r["reviewer"], r["study"]) == (d.decision, d.model_call,
                                                                               d.reviewer, d.study)
        assert float(r["pneumonia_probability"]) == pytest.approx(d.probability)
    unreviewed = [r for r in rows if r["review_state"] == "unreviewed" and r["status"] == "ok"]
    assert len(unreviewed) == 13 and all(r["model_call"] in ("NORMAL", "PNEUMONIA") for r in unreviewed)
    broken = next(r for r in rows if r["path"].endswith(BROKEN_NAME))
    assert broken["status"] == "error" and broken["error"] and broken["model_call"] == ""
    assert Settings().export_folder == str(tmp_path)  # offered there next time
    # the whole log, as before
    isolated.save_path = str(tmp_path / "log.csv")
    scored.export_log_action.trigger()
    assert any("Wrote 3 decisions" in t for t in isolated.texts("information"))
    # an export that cannot be written says so
    isolated.save_path = str(tmp_path / "no-such-folder" / "out.csv")
    scored.export_action.trigger()
    assert any("Export failed" in t and "not written" in t for t in isolated.texts("critical"))


def test_unreadable_filter_shows_the_error(qtbot: Any, scored: Any) -> None:
    scored.set_filter(Filter.UNREADABLE)
    items = order(scored)
    assert [it.name for it in items] == [BROKEN_NAME]
    assert items[0].error and "JPEG" in items[0].error or "image" in items[0].error
    scored.select_row(0)
    qtbot.waitUntil(lambda: "Unreadable" in scored.viewer.header.text(), timeout=WAIT_MS)
    assert items[0].error in scored.viewer.subheader.text()
    assert items[0].error in scored.proxy.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert not scored.review_panel.buttons["agree"].isEnabled()
    key(qtbot, scored, Qt.Key.Key_A)  # nothing to agree with: not recorded
    assert scored.model.counts()["reviewed"] == 0


def test_cancel_stops_results(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    src = sorted(Path(__file__).parents[2].joinpath("resources", "samples").glob("*.jpeg"))
    for i in range(60):
        (folder / f"film{i:03d}.jpeg").write_bytes(src[i % len(src)].read_bytes())

    gate = threading.Event()  # films from the 9th on wait here until the test lets them through

    def gated(path: Path, size: int) -> Any:
        if int(path.stem.removeprefix("film")) >= 8:
            gate.wait(WAIT_MS / 1000)
        return scoring._decode(path, size)

    w = make_window(decoder=gated, batch_size=4)
    w.open_folder(folder)
    qtbot.waitUntil(lambda: w.model.counts()["scored"] >= 4, timeout=WAIT_MS)
    assert w.cancel_button.isVisible()
    run = w.worker
    with qtbot.waitSignal(run.finished, timeout=WAIT_MS):  # the run's last signal: nothing can follow it
        w.cancel_button.click()
        gate.set()  # the batch in flight finishes; the run stops after it
    assert w.worker is None
    assert w.run_state is RunState.CANCELLED
    assert "Cancelled" in w.rate_label.text()
    scored_now = w.model.counts()["scored"]
    QApplication.processEvents()  # anything still queued would be delivered now
    assert w.model.counts()["scored"] == scored_now < 60
    assert w.model.counts()["pending"] == 60 - scored_now
    # the window stayed usable, and scoring can resume where it stopped
    assert w.score_action.isEnabled()
    w.decoder = None
    w.score_action.trigger()
    qtbot.waitUntil(lambda: w.run_state is RunState.DONE, timeout=WAIT_MS)
    assert w.model.counts()["scored"] == 60


def test_selection_survives_resorting(qtbot: Any, make_window: Any, study: Path) -> None:
    gate = threading.Event()  # all but the first batches wait until a film has been picked
    first = {p.name for p in discover_films(study)[:2]}  # the first batch scored

    def gated(path: Path, size: int) -> Any:
        if path.name not in first:
            gate.wait(WAIT_MS / 1000)
        return scoring._decode(path, size)

    w = make_window(decoder=gated, batch_size=2)
    w.open_folder(study)
    qtbot.waitUntil(lambda: w.model.counts()["scored"] >= 2, timeout=WAIT_MS)
    w.select_row(w.proxy.rowCount() - 2)  # a pending film: it moves as results arrive
    chosen = w.current_item()
    gate.set()
    qtbot.waitUntil(lambda: w.run_state is RunState.DONE, timeout=WAIT_MS)
    assert w.current_item() is chosen
    assert w.list_view.selectionModel().isSelected(w.list_view.currentIndex())


def test_log_read_only_shows_message_and_does_not_mark_saved(qtbot: Any, make_window: Any, study: Path,
                                                             isolated: Any, tmp_path: Path) -> None:
    log_path = tmp_path / "ro.sqlite3"
    AgreementLog(log_path).close()
    w = make_window(log_path=log_path)
    w.log.close()
    w.log = AgreementLog(log_path, readonly=True)  # as if the file or folder were not writable
    open_and_score(qtbot, w, study)
    w.select_row(0)
    item = w.current_item()
    key(qtbot, w, Qt.Key.Key_A)
    assert any("NOT saved" in t and "read-only" in t for t in isolated.texts("critical"))
    assert item.decision is None and item.review_state == "unreviewed"
    assert "NOT saved" in w.review_panel.status.text()
    assert w.current_item() is item  # no auto-advance past an unsaved decision
    with AgreementLog(log_path, readonly=True) as log:
        assert log.count() == 0


def test_unopenable_log_is_reported(qtbot: Any, make_window: Any, study: Path, isolated: Any,
                                    tmp_path: Path) -> None:
    bad = tmp_path / "not-a-log.sqlite3"
    bad.write_bytes(b"definitely not sqlite" * 10)
    w = make_window(log_path=bad)
    assert w.log is None and w.log_banner.isVisible() and "damaged" in w.log_banner.text()
    open_and_score(qtbot, w, study)
    w.select_row(0)
    key(qtbot, w, Qt.Key.Key_A)
    assert any("not saved" in t.lower() for t in isolated.texts("critical"))
    assert bad.read_bytes() == b"definitely not sqlite" * 10


def test_reader_confirmed_at_every_launch_and_reopening_goes_on_where_it_stopped(
        qtbot: Any, make_window: Any, study: Path, isolated: Any, tmp_path: Path) -> None:
    w = make_window()
    open_and_score(qtbot, w, study)
    top = w.current_item()
    key(qtbot, w, Qt.Key.Key_P)  # the first decision asks who is reading
    assert isolated.reviewer_asked == 1 and "Reader: Dr Test" in w.reader_label.text()
    w.close()

    w2 = make_window()  # the next launch: the last reader is NOT carried over silently
    open_and_score(qtbot, w2, study)
    assert w2.session.reviewer == "" and w2.reader_label.text() == "Reader: not chosen"
    assert "not chosen" in w2.review_panel.reviewer_label.text()
    assert w2.ask_reader()  # what `xrayviewer gui` does at launch
    assert isolated.reader_offers[-1] == (["Dr Test"], "Dr Test")  # known readers, the last one preselected
    assert w2.review_panel.reviewer_label.text() == "<b>Dr Test</b>"
    same = [it for it in w2.model.items if it.sha256 == top.sha256]
    assert same and same[0].decision is not None and same[0].decision.decision == "PNEUMONIA"
    assert w2.model.counts()["reviewed"] == 1
    # reopening opens the first unreviewed film, not the top one (already read)
    shown = order(w2)
    assert shown[0].sha256 == top.sha256 and w2.current_item() is shown[1]
    key(qtbot, w2, Qt.Key.Key_K)  # back to the top one
    key(qtbot, w2, Qt.Key.Key_N)  # recorded without asking again
    assert isolated.reviewer_asked == 2
    assert same[0].decision.decision == "NORMAL"
    assert Settings().recent_folders[0] == str(study.resolve())
    assert Settings().last_folder == str(study.resolve())


def test_missing_model_still_browses(qtbot: Any, make_window: Any, study: Path, tmp_path: Path) -> None:
    w = make_window(model_path=tmp_path / "nope.onnx")
    assert w.engine is None
    assert w.model_banner.isVisible() and "model file not found" in w.model_banner.text()
    assert "still browse" in w.model_banner.text()
    w.open_folder(study)
    qtbot.waitUntil(lambda: w.model.rowCount() == 17, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.viewer.film is not None, timeout=WAIT_MS)
    assert not w.viewer.overlay.isVisible()
    assert "Not scored" in w.viewer.header.text()
    assert not w.review_panel.buttons["agree"].isEnabled()
    assert "no model" in w.review_panel.status.text()
    key(qtbot, w, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: w.viewer.film is not None and w.viewer.item is w.current_item(), timeout=WAIT_MS)


def test_broken_model_is_reported(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    w = make_window(model_path=bad)
    assert w.engine is None and "not a valid ONNX model" in w.model_banner.text()
    assert w.provider_label.text() == "No model"
    assert not w.features_action.isEnabled() and not w.card_action.isEnabled()


def test_open_folder_dialog_and_recent(qtbot: Any, make_window: Any, study: Path, isolated: Any) -> None:
    w = make_window()
    isolated.folder = str(study)
    w.open_action.trigger()
    qtbot.waitUntil(lambda: w.run_state is RunState.DONE, timeout=WAIT_MS)
    assert w.folder == study.resolve()
    w.recent_menu.aboutToShow.emit()  # the menu refills as it opens
    assert str(study.resolve()) in [a.text() for a in w.recent_menu.actions()]
    w.open_folder(study / "missing")
    assert any("Not a folder" in t for t in isolated.texts("warning"))


def test_probability_nan_never_shown_as_scored(scored: Any) -> None:
    for it in scored.model.items:
        assert (it.status == Status.OK) == (not math.isnan(it.probability))


def test_no_reviewer_name_records_nothing_and_change_reviewer_reloads(qtbot: Any, scored: Any, isolated: Any,
                                                                      tmp_path: Path) -> None:
    isolated.reviewer = None  # the user cancels the name prompt
    scored.select_row(0)
    key(qtbot, scored, Qt.Key.Key_A)
    assert scored.model.counts()["reviewed"] == 0
    assert "not recorded" in scored.statusBar().currentMessage()
    isolated.reviewer = "Dr One"
    key(qtbot, scored, Qt.Key.Key_A)
    assert scored.model.counts()["reviewed"] == 1
    isolated.reviewer = "Dr Two"
    scored.change_reviewer()
    assert scored.model.counts()["reviewed"] == 0  # Dr Two has not reviewed anything here
    isolated.reviewer = "Dr One"
    scored.change_reviewer()
    assert scored.model.counts()["reviewed"] == 1
