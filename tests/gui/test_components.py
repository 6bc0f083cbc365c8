"""Panels, dialogs, thumbnails, settings and the CLI entry, plus a 1,000-film responsiveness check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QListView

from tests.films.testkit import make_dataset, save
from tests.gui.conftest import WAIT_MS, open_and_score
from xrayviewer.common.vocab import Status
from xrayviewer.films import FilmError
from xrayviewer.gui.attributes import HIDDEN
from xrayviewer.gui.dialogs import FeatureMapDialog, ModelCardDialog, StatisticsDialog, mosaic
from xrayviewer.gui.film_model import FilmListModel, FilmSortProxy
from xrayviewer.gui.settings import Settings
from xrayviewer.gui.thumbnails import ThumbnailLoader
from xrayviewer.inference.scoring import FilmResult
from xrayviewer.paths import default_model_path
from xrayviewer.review.session import RunState


def dicom_study(folder: Path, photometric: str = "MONOCHROME2") -> Path:
    folder.mkdir(exist_ok=True)
    rows = np.linspace(0, 4000, 96, dtype=np.float32)[:, None]  # brighter (denser) towards the bottom
    px = np.repeat(rows, 80, axis=1).astype(np.uint16)
    if photometric == "MONOCHROME1":
        px = (4095 - px).astype(np.uint16)  # same anatomy, stored inverted
    ds = make_dataset(px, bits_stored=12, photometric=photometric, WindowCenter=1500, WindowWidth=2000)
    return save(ds, folder / "chest.dcm")


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dicom_attributes_hide_patient_data_and_presets_apply(qtbot: Any, make_window: Any, tmp_path: Path,
                                                              photometric: str) -> None:
    dicom_study(tmp_path / "dcm", photometric)
    w = make_window()
    open_and_score(qtbot, w, tmp_path / "dcm")
    panel = w.attributes
    assert panel.value_shown("PatientName") == HIDDEN
    assert panel.value_shown("PatientID") == HIDDEN
    assert panel.value_shown("Modality") == "DX"
    panel.reveal_button.click()
    assert panel.value_shown("PatientName") == "Doe, Jane"
    # window presets from the file, applied in modality units; the film stays dense = bright
    v = w.viewer
    assert v.window_combo.count() >= 3 and "C 1500 / W 2000" in v.window_combo.currentText()
    lo, hi = v.levels()
    assert hi - lo == pytest.approx(2000)
    assert (lo, hi) == (500, 2500)  # the file's own units, for both photometrics (MONOCHROME1 is not negated)
    hist_x, _ = v.histogram.plot.getData()
    assert hist_x.min() >= 0  # the histogram's axis reads the stored values too
    shown = v.shown_grey()
    assert shown[-1].mean() > shown[0].mean()  # bottom (dense) brighter than top, for both photometrics
    v.window_combo.setCurrentIndex(1)  # full range
    lo2, hi2 = v.levels()
    assert hi2 - lo2 > 2000
    # next film hides patient data again
    panel.set_meta({"PatientName": "X"}, frozenset({"PatientName"}))
    assert panel.value_shown("PatientName") == HIDDEN


def test_model_card_dialog_shows_every_field(qtbot: Any, scored: Any) -> None:
    scored.card_action.trigger()
    dialog: ModelCardDialog = scored.card_dialog
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    for needle in ("tiny-test-model", "brightness pooling", "0.5000", "fixed at 0.5 for tests", "Kermany",
                   "CC BY 4.0", "Training command", "not a diagnosis", "Running on", "CPU"):
        assert needle in text, needle
    dialog.close()


def test_feature_map_dialog(qtbot: Any, scored: Any) -> None:
    scored.select_row(0)
    qtbot.waitUntil(lambda: scored.viewer.film is not None, timeout=WAIT_MS)
    scored.features_action.trigger()
    dialog: FeatureMapDialog = scored.feature_dialog
    qtbot.waitUntil(lambda: "showing" in dialog.info.text(), timeout=WAIT_MS)
    assert [dialog.layer_box.itemText(i) for i in range(dialog.layer_box.count())] == ["feat_1", "feat_2"]
    assert dialog.maps_image.image.shape == (32 * 2 + 2, 32 * 2 + 2)  # 3 channels of 32x32 in a 2x2 grid
    assert dialog.input_image.image.shape == (64, 64)
    dialog.layer_box.setCurrentIndex(1)
    assert dialog.maps_image.image.shape == (8 * 2 + 2, 8 * 2 + 2)
    assert "feat_2" in dialog.info.text()
    # it follows the selection
    scored.step(+1)
    qtbot.waitUntil(lambda: dialog.film_name == scored.current_item().name and "showing" in dialog.info.text(),
                    timeout=WAIT_MS)
    dialog.close()


def test_mosaic_scales_each_channel() -> None:
    maps = np.stack([np.full((4, 4), 5.0), np.arange(16.0).reshape(4, 4), -np.arange(16.0).reshape(4, 4)])
    image, n = mosaic(maps, 16, pad=1)
    assert n == 3 and image.shape == (9, 9)
    assert np.nanmax(image) == 1.0 and np.nanmin(image) == 0.0
    assert np.isnan(image[5:, 5:]).all()  # empty fourth tile


def test_statistics_dialog(qtbot: Any, scored: Any, isolated: Any) -> None:
    scored.select_row(0)
    qtbot.keyClick(scored.list_view, Qt.Key.Key_A)
    qtbot.keyClick(scored.list_view, Qt.Key.Key_D)
    qtbot.keyClick(scored.list_view, Qt.Key.Key_A)
    scored.stats_action.trigger()
    dialog: StatisticsDialog = scored.stats_dialog
    qtbot.addWidget(dialog)
    table = dialog.table
    assert table.rowCount() == 2  # Dr Test + ALL
    cells = [table.item(0, c).text() for c in range(table.columnCount())]
    assert cells[0] == "Dr Test" and cells[1] == "3" and cells[2] == "66.7%"
    assert sum(int(c) for c in cells[4:]) == 3
    assert dialog.stats.per_reviewer[0].n_agree == 2
    dialog.close()


def test_thumbnail_cache_is_bounded_and_failures_remembered(qtbot: Any) -> None:
    def maker(path: Path, size: int) -> tuple[QImage, str]:
        if path.name.startswith("bad"):
            raise FilmError("not a JPEG/PNG/DICOM image")
        img = QImage(8, 8, QImage.Format.Format_Grayscale8)
        img.fill(128)
        return img, "a" * 64

    loader = ThumbnailLoader(capacity=3, threads=1, maker=maker)
    ready: list[str] = []
    loader.ready.connect(ready.append)
    paths = [f"/x/{i}.png" for i in range(6)] + ["/x/bad.png"]
    for p in paths:
        assert loader.get(p) is None
    qtbot.waitUntil(lambda: len(ready) == 7, timeout=WAIT_MS)
    assert loader.cached_count() == 3
    assert loader.error("/x/bad.png") == "not a JPEG/PNG/DICOM image"
    assert loader.get("/x/bad.png") is None and len(ready) == 7  # not retried
    assert ready[0] == "/x/bad.png"  # newest request first
    loader.shutdown()


def test_proxy_resorts_10000_films_keeping_selection(qtbot: Any) -> None:
    model = FilmListModel()
    proxy = FilmSortProxy()
    proxy.setSourceModel(model)
    proxy.sort(0, Qt.SortOrder.DescendingOrder)
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    paths = [Path(f"/s/{i:05d}.png") for i in range(10_000)]
    model.open(Path("/s"), paths)
    view.setCurrentIndex(proxy.index(500, 0))
    chosen = proxy.item_at(view.currentIndex())
    rng = np.random.default_rng(0)
    for start in range(0, 2_000, 100):  # 2,000 results streaming into a 10,000-film study
        batch = [FilmResult(p, Status.OK, sha256=f"{i:064x}", probability=float(rng.random()), prediction="NORMAL",
                            threshold=0.5) for i, p in enumerate(paths[start:start + 100], start)]
        model.apply_results(batch)
    items = [proxy.item_at(proxy.index(r, 0)) for r in range(proxy.rowCount())]
    probs = [it.probability for it in items[:2000]]
    assert probs == sorted(probs, reverse=True)
    assert all(it.status == "pending" for it in items[2000:])
    assert proxy.item_at(view.currentIndex()) is chosen
    assert list(proxy.iter_items()) == items == proxy.items_in_order()


def test_window_stays_responsive_with_1000_films(qtbot: Any, make_window: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No decoding or inference on the GUI thread, and its event loop keeps turning while 1,000 films score.

    Checked by where the work runs, not by timing it, so a loaded CI machine cannot make it flaky.
    """
    import threading

    from xrayviewer.gui import main_window, thumbnails
    from xrayviewer.inference import engine, scoring

    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(1000):
        Image.fromarray(rng.integers(0, 255, (72, 64), dtype=np.uint8)).save(folder / f"f{i:04d}.png")
    on_gui_thread: list[str] = []

    def watch(module: Any, name: str) -> None:
        real = getattr(module, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                on_gui_thread.append(f"{module.__name__}.{name}")
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    for module in (scoring, thumbnails, main_window):
        watch(module, "load_film")
    watch(engine.Engine, "run")
    w = make_window()
    ticks_while_scoring = [0]

    def tick() -> None:
        ticks_while_scoring[0] += w.run_state is RunState.RUNNING

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    w.open_folder(folder)
    qtbot.waitUntil(lambda: w.run_state is RunState.DONE, timeout=120_000)
    timer.stop()
    assert w.model.counts()["scored"] == 1000
    assert on_gui_thread == []
    assert ticks_while_scoring[0] > 3  # the event loop ran (repaints, clicks) while the worker scored
    assert w.thumbs.cached_count() < 1000  # only what was on screen was decoded


def test_drop_folder_opens_it(qtbot: Any, make_window: Any, study: Path) -> None:
    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(study))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    w.dropEvent(event)
    qtbot.waitUntil(lambda: w.run_state is RunState.DONE, timeout=WAIT_MS)
    assert w.folder == study.resolve()


def test_geometry_and_opacity_persist(qtbot: Any, make_window: Any) -> None:
    w = make_window()
    w.resize(1111, 777)
    w.viewer.set_opacity(0.3)
    w.close()
    s = Settings()
    geometry, state = s.window_state()
    assert geometry is not None and state is not None
    assert s.overlay_opacity == pytest.approx(0.3)
    w2 = make_window()
    assert w2.viewer.opacity_slider.value() == 30
    assert w2.viewer.overlay.opacity() == pytest.approx(0.3)


def test_settings_read_odd_stored_values_as_defaults(tmp_path: Path) -> None:
    """A foreign store (a number where the recent-folder list belongs, a word for the opacity) never crashes."""
    store = QSettings(str(tmp_path / "odd.ini"), QSettings.Format.IniFormat)
    store.setValue("files/recent", 5)  # a native store (registry, plist) hands numbers back as numbers
    store.setValue("view/overlay_opacity", "dim")
    s = Settings(store)
    assert s.recent_folders == []
    assert s.overlay_opacity == pytest.approx(0.45)


def test_cli_gui_subcommand(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from xrayviewer import cli
    from xrayviewer.gui import app

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(app, "main", lambda folder, **kw: calls.append((folder, kw)) or 0)
    assert cli.main(["gui", str(tmp_path), "--log", str(tmp_path / "l.db"), "--provider", "cpu"]) == 0
    default_model = default_model_path()  # resolved by the CLI (cli.common), not by the GUI
    assert calls[-1] == (tmp_path, {"model_path": default_model, "log_path": tmp_path / "l.db", "provider": "cpu"})
    monkeypatch.setattr("sys.argv", ["xrayviewer"])
    assert cli.main([]) == 0  # no command: the GUI
    assert calls[-1][0] is None
    assert cli.main(["gui", str(tmp_path / "missing")]) == 2


def test_opening_a_film_opens_its_folder_with_it_selected(qtbot: Any, make_window: Any, study: Path) -> None:
    """What a file manager does through the desktop entry (`xrayviewer gui %f`)."""
    w = make_window()
    film = study / "NORMAL2-IM-1430-0001.jpeg"
    w.open_folder(film.parent, select=film)
    qtbot.waitUntil(lambda: w.folder == study.resolve(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.current_item() is not None, timeout=WAIT_MS)
    assert w.current_item().path.name == film.name


def test_about_names_the_log_folder(make_window: Any, isolated: Any, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    from xrayviewer.applog import log_dir

    monkeypatch.setenv("XRAYVIEWER_LOG_DIR", str(tmp_path / "logs here"))
    w = make_window()
    w.show_about()
    (kind, title, text), = [m for m in isolated.messages if m[0] == "about"]
    assert str(log_dir()) in text and "not a diagnosis" in text


def test_heat_map_is_coloured_once_per_film_and_again_when_its_call_changes(qtbot: Any, scored: Any) -> None:
    """Drawing a film and then its score colours the map once; a new threshold or a turn colours it again."""
    v = scored.viewer
    item = scored.current_item()
    assert item is not None and item.cam is not None and v.overlay.isVisible()
    coloured = v.overlay.image
    v.update_score(item)  # the same score again (a result arriving for the shown film)
    assert v.overlay.image is coloured
    item.threshold = min(0.99, item.threshold + 0.2)  # a site threshold accepted: the reference moves
    v.update_score(item)
    assert v.overlay.image is not coloured and not np.array_equal(v.overlay.image, coloured)
    recoloured = v.overlay.image
    v.rotate(1)
    assert v.overlay.image.shape[:2] == recoloured.shape[1::-1]  # turned with the film
    v.clear()
    assert not v.overlay.isVisible()
