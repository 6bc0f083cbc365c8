"""File > Open from PACS against a real Orthanc, and File > Export DICOM results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dicomout.films import dx_film, new_uid
from tests.gui.conftest import WAIT_MS, Dialogs, open_and_score
from tests.pacs.conftest import orthanc, pacs_env  # noqa: F401  (fixtures: a real Orthanc for this module)
from tests.pacs.orthanc import Orthanc, free_port
from tests.pacs.studies import load_study
from xrayviewer.gui.pacs_dialog import PATIENT_COLUMNS
from xrayviewer.review.session import RunState


@pytest.fixture
def pacs(orthanc: Orthanc, pacs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Orthanc:  # noqa: F811
    for key, value in pacs_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XRAYVIEWER_PACS_URL", orthanc.url)
    return orthanc


def test_open_study_from_pacs(qtbot: Any, make_window: Callable[..., Any], pacs: Orthanc) -> None:
    study = load_study(pacs, films=2, non_image=True, date="20250102")
    w = make_window()
    w.open_from_pacs()
    dialog = w.pacs_dialog
    assert dialog.server.text() == pacs.url  # the configured server
    assert all(dialog.table.isColumnHidden(c) for c in PATIENT_COLUMNS)  # patient data hidden by default
    dialog.start_search()
    qtbot.waitUntil(lambda: dialog.search_button.isEnabled() and dialog.table.rowCount() > 0, timeout=WAIT_MS)
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 4).text() == study.uid)
    dialog.table.selectRow(row)
    dialog.open_selected()
    qtbot.waitUntil(lambda: w.folder is not None and w.folder.name == study.uid and w.run_state is RunState.DONE,
                    timeout=WAIT_MS)
    assert len(w.session.items) == 2 and all(str(it.status) == "ok" for it in w.session.items)


def test_pacs_fault_is_one_line_in_the_dialog(qtbot: Any, make_window: Callable[..., Any], pacs: Orthanc) -> None:
    w = make_window()
    w.open_from_pacs()
    dialog = w.pacs_dialog
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    dialog.server.setText(url)
    dialog.start_search()
    qtbot.waitUntil(lambda: dialog.search_button.isEnabled(), timeout=WAIT_MS)
    assert dialog.status.text() == (f"cannot reach the PACS at {url} (connection refused) while searching for "
                                    "studies; is it running and is the URL right?")


def test_export_dicom_results(qtbot: Any, make_window: Callable[..., Any], isolated: Dialogs,
                              tmp_path: Path) -> None:
    folder = tmp_path / "dicomstudy"
    uid = new_uid()
    for i in range(3):
        dx_film(folder / f"f{i}.dcm", index=i, study_uid=uid)
    w = make_window()
    open_and_score(qtbot, w, folder)
    isolated.folder = str(tmp_path / "out")
    w.export_dicom()
    qtbot.waitUntil(lambda: any(t == "DICOM export" for _, t, _ in isolated.messages), timeout=WAIT_MS)
    [text] = [x for _, t, x in isolated.messages if t == "DICOM export"]
    assert text.startswith("Wrote the results of 3 DICOM films")
    names = sorted(p.name for p in (tmp_path / "out").rglob("*.dcm"))
    assert names == sorted(f"f{i}.dcm.{k}.dcm" for i in range(3) for k in ("sr", "sc"))
