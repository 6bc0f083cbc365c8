"""CSV injection: every CSV the project writes shows formula-like text as text, and the raw text comes back.

Checked on the rule itself and end to end on the three writers: `xrayviewer score` (film names),
the review export (notes, reviewer names) and evaluate's predictions.csv (film names, patient ids).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from xrayviewer.cli import main
from xrayviewer.common.csv_safety import raw_cell, raw_row, safe_cell, safe_row
from xrayviewer.common.vocab import Status
from xrayviewer.paths import samples_dir

NASTY = ["=1+1 consolidation RLL", "=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1",
         "'=already quoted", "'plain quote"]
HARMLESS = ["", "NORMAL", "0.612300", "-0.5", "-1e-3", "+3", "a=b", "dr.a", "ok"]


def is_formula(cell: str) -> bool:
    """What Excel/LibreOffice would evaluate: a cell starting with a formula character (after tab/CR)."""
    return cell.lstrip("\t\r").startswith(("=", "+", "-", "@")) and not _number(cell)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", NASTY)
def test_formula_text_is_quoted_and_comes_back(text: str) -> None:
    cell = safe_cell(text)
    assert cell.startswith("'") and not is_formula(cell)
    assert raw_cell(cell) == text


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_and_numbers_are_untouched(text: str) -> None:
    assert safe_cell(text) == text
    assert raw_cell(safe_cell(text)) == text


def test_rows_and_non_text_cells() -> None:
    assert safe_row(["=x", 1, None, -2.5]) == ["'=x", "1", "", "-2.5"]
    assert raw_row(safe_row(NASTY + HARMLESS)) == NASTY + HARMLESS


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def assert_no_formula(path: Path) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            assert not any(is_formula(c) for c in row), row


def test_score_csv_film_names(tmp_path: Path, tiny_model: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    films = sorted(samples_dir().glob("*.jpeg"))
    names = ["=HYPERLINK(1).jpeg", "@SUM(A1).jpeg", "-2+3.jpeg", "plain.jpeg"]
    for name, src in zip(names, films, strict=False):
        shutil.copy(src, study / name)
    out = tmp_path / "scores.csv"
    assert main(["score", str(study), "--csv", str(out), "--model", str(tiny_model)]) == 0
    assert_no_formula(out)
    rows = read(out)
    assert sorted(raw_cell(r["path"]) for r in rows) == sorted(names)
    assert {r["path"] for r in rows} >= {"'=HYPERLINK(1).jpeg", "'@SUM(A1).jpeg", "'-2+3.jpeg", "plain.jpeg"}
    assert all(r["status"] == "ok" for r in rows)

    # --resume reads its own quoted names back: nothing is scored twice, nothing is lost.
    assert main(["score", str(study), "--csv", str(out), "--model", str(tiny_model), "--resume"]) == 0
    again = read(out)
    assert [r["path"] for r in again] == [r["path"] for r in rows]


def test_review_export_notes_and_reviewers(tmp_path: Path) -> None:
    from tests.review.conftest import decision
    from xrayviewer.review import AgreementLog, export_review_csv

    log = AgreementLog(tmp_path / "log.sqlite3")
    log.record(decision(1, note="=1+1 consolidation RLL"))
    log.record(decision(2, reviewer="=cmd|' /C calc'!A0", note="@SUM(A1)"))
    out = tmp_path / "review.csv"
    assert export_review_csv(log, out) == 2
    assert_no_formula(out)
    rows = read(out)
    assert [raw_cell(r["note"]) for r in rows] == ["=1+1 consolidation RLL", "@SUM(A1)"]
    assert raw_cell(rows[1]["reviewer"]) == "=cmd|' /C calc'!A0"
    assert rows[0]["pneumonia_probability"] == "0.8"  # numbers stay numbers
    log.close()


def test_evaluate_predictions(tmp_path: Path) -> None:
    from xrayviewer.data.datasets import Sample
    from xrayviewer.evaluation.report import Scored, _write_predictions

    root = tmp_path / "data"
    scored = [Scored(Sample(root / "=HYPERLINK(1).jpeg", 1, "test", "bacteria", "+patient"), Status.OK, 0.9),
              Scored(Sample(root / "@x.jpeg", 0, "test", "normal", "p2"), Status.ERROR, error="-1 bytes")]
    out = tmp_path / "predictions.csv"
    _write_predictions(out, scored, root, 0.5)
    assert_no_formula(out)
    rows = read(out)
    assert raw_cell(rows[0]["path"]) == "=HYPERLINK(1).jpeg" and raw_cell(rows[0]["patient"]) == "+patient"
    assert raw_cell(rows[1]["error"]) == "-1 bytes"
