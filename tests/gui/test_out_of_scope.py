"""The app's out-of-scope group: refused films last, the reason on the tile, no call, no heat map, N/P only."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tests.films.testkit import make_dataset, save
from tests.gui.conftest import WAIT_MS, open_and_score
from xrayviewer.paths import samples_dir
from xrayviewer.review import AgreementLog
from xrayviewer.review.session import Filter, ReviewState


@pytest.fixture
def mixed_study(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in sorted(samples_dir().glob("*.jpeg"))[:3]:
        shutil.copy(p, folder / p.name)
    chest = np.asarray(Image.open(sorted(samples_dir().glob("*.jpeg"))[0]).convert("L").resize((300, 240)))
    save(make_dataset(chest, Modality="MG"), folder / "aa-mammo.dcm")  # sorts first by name, last by scope
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, 320, dtype=np.uint8)
    rgb[..., 2] = 200
    Image.fromarray(rgb).save(folder / "ab-photo.png")
    return folder


def _order(window: Any) -> list[Any]:
    return window.proxy.items_in_order()


def test_out_of_scope_films_are_grouped_last_and_labelled_only(qtbot: Any, make_window: Any, mixed_study: Path,
                                                               tmp_path: Path) -> None:
    w = make_window()
    open_and_score(qtbot, w, mixed_study)
    items = _order(w)
    assert [it.out_of_scope for it in items] == [False, False, False, True, True]
    refused = {it.name: it for it in items if it.out_of_scope}
    assert refused["aa-mammo.dcm"].scope_reason == "modality MG (mammography)"
    assert "colour image" in refused["ab-photo.png"].scope_reason
    tip = w.model.data(w.model.index(w.model.row_of(refused["aa-mammo.dcm"].path)), Qt.ItemDataRole.ToolTipRole)
    assert "out of scope, not judged by the model: modality MG (mammography)" in tip

    w.select_path(refused["aa-mammo.dcm"].path)
    qtbot.waitUntil(lambda: w.viewer.item is refused["aa-mammo.dcm"] and w.viewer.film is not None,
                    timeout=WAIT_MS)
    assert "Out of scope" in w.viewer.header.text() and "mammography" in w.viewer.header.text()
    assert not w.viewer.overlay.isVisible()  # no heat map
    panel = w.review_panel
    assert not panel.buttons[next(k for k in panel.buttons if str(k) == "agree")].isEnabled()
    assert panel.buttons[next(k for k in panel.buttons if str(k) == "NORMAL")].isEnabled()

    qtbot.keyClick(w.list_view, Qt.Key.Key_A)  # nothing to agree with: nothing recorded
    assert "nothing to agree or disagree with" in w.statusBar().currentMessage()
    assert w.model.counts()["reviewed"] == 0
    w.select_path(refused["aa-mammo.dcm"].path)
    qtbot.keyClick(w.list_view, Qt.Key.Key_N)
    with AgreementLog(tmp_path / "log.sqlite3", readonly=True) as log:
        (row,) = log.latest()
    assert (row.scope, row.model_call, row.probability, row.decision) == ("out", "OUT_OF_SCOPE", None, "NORMAL")
    assert row.scope_reason == "modality MG (mammography)"
    assert refused["aa-mammo.dcm"].review_state is ReviewState.LABELLED

    w.set_filter(Filter.OUT_OF_SCOPE)
    assert {it.name for it in _order(w)} == {"aa-mammo.dcm", "ab-photo.png"}
