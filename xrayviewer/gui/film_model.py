"""The study as a Qt list model, plus the proxy that sorts (most suspicious first) and filters it.

The source model keeps discovery order forever; all re-ordering happens in the proxy with dynamic sort on
a numeric key, so results streaming in re-sort rows without a Python comparison per pair and without
losing the selection (the proxy keeps persistent indexes up to date).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from xrayviewer.inference.scoring import FilmResult
from xrayviewer.review import LoggedDecision

PENDING, OK, ERROR = "pending", "ok", "error"
UNREVIEWED, AGREED, DISAGREED = "unreviewed", "agreed", "disagreed"


class Role(IntEnum):
    ITEM = Qt.ItemDataRole.UserRole + 1
    SORT_KEY = Qt.ItemDataRole.UserRole + 2
    PROBABILITY = Qt.ItemDataRole.UserRole + 3
    STATUS = Qt.ItemDataRole.UserRole + 4
    REVIEW = Qt.ItemDataRole.UserRole + 5
    PATH = Qt.ItemDataRole.UserRole + 6


_SORT_ROLE = int(Role.SORT_KEY)


@dataclass
class FilmItem:
    """Everything the GUI knows about one film; the heavy pixels are never kept here."""

    path: Path
    status: str = PENDING
    probability: float = math.nan
    prediction: str = ""  # the model's call at its threshold
    threshold: float = math.nan
    error: str = ""
    sha256: str = ""
    cam: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    original_size: tuple[int, int] | None = None
    decision: LoggedDecision | None = None  # the current reviewer's decision that counts

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def review_state(self) -> str:
        if self.decision is None:
            return UNREVIEWED
        return AGREED if self.decision.agrees else DISAGREED

    @property
    def sort_key(self) -> float:
        """Descending order: scored by probability, then pending, then unreadable."""
        if self.status == OK:
            return float(self.probability)
        return -1.0 if self.status == PENDING else -2.0

    def apply(self, result: FilmResult) -> None:
        self.status = OK if result.ok else ERROR
        self.error = result.error
        self.sha256 = result.sha256 or self.sha256
        self.probability = result.probability
        self.prediction = result.prediction
        self.threshold = result.threshold
        self.cam = result.cam
        self.notes = list(result.notes)
        self.original_size = result.original_size


class FilmListModel(QAbstractListModel):
    """Flat list of FilmItems in discovery order."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.items: list[FilmItem] = []
        self._row_of: dict[Path, int] = {}
        self._row_of_sha: dict[str, list[int]] = {}

    # -- Qt API -------------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if role == _SORT_ROLE:  # hot path: the proxy asks for it on every comparison
            return self.items[row].sort_key if 0 <= row < len(self.items) else None
        if not index.isValid() or not 0 <= row < len(self.items):
            return None
        item = self.items[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(item)
        if role == Role.ITEM:
            return item
        if role == Role.PROBABILITY:
            return item.probability
        if role == Role.STATUS:
            return item.status
        if role == Role.REVIEW:
            return item.review_state
        if role == Role.PATH:
            return str(item.path)
        return None

    # -- mutation -----------------------------------------------------------------------------------------

    def set_paths(self, paths: list[Path]) -> None:
        self.beginResetModel()
        self.items = [FilmItem(Path(p)) for p in paths]
        self._row_of = {it.path: i for i, it in enumerate(self.items)}
        self._row_of_sha = {}
        self.endResetModel()

    def row_of(self, path: Path) -> int | None:
        return self._row_of.get(Path(path))

    def item(self, row: int) -> FilmItem:
        return self.items[row]

    def _changed(self, rows: list[int]) -> None:
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def apply_results(self, results: list[FilmResult], decisions: dict[str, LoggedDecision]) -> list[int]:
        """Merge scoring results (and any logged decision for their film); one dataChanged per batch."""
        rows = []
        for r in results:
            row = self._row_of.get(Path(r.path))
            if row is None:
                continue
            item = self.items[row]
            item.apply(r)
            if item.sha256:
                rows_for_sha = self._row_of_sha.setdefault(item.sha256, [])
                if row not in rows_for_sha:
                    rows_for_sha.append(row)
                if item.decision is None and item.sha256 in decisions:
                    item.decision = decisions[item.sha256]
            rows.append(row)
        self._changed(rows)
        return rows

    def set_sha(self, path: Path, sha256: str, decisions: dict[str, LoggedDecision]) -> None:
        """Learn a film's hash from a thumbnail/full decode (lets decisions show before scoring ends)."""
        row = self._row_of.get(Path(path))
        if row is None or not sha256 or self.items[row].sha256:
            return
        item = self.items[row]
        item.sha256 = sha256
        self._row_of_sha.setdefault(sha256, []).append(row)
        if item.decision is None and sha256 in decisions:
            item.decision = decisions[sha256]
            self._changed([row])

    def set_decision(self, sha256: str, decision: LoggedDecision | None) -> None:
        """Mark every film with this hash (duplicates share a decision, as the log keys on the hash)."""
        rows = self._row_of_sha.get(sha256, [])
        for row in rows:
            self.items[row].decision = decision
        self._changed(rows)

    def apply_decisions(self, decisions: dict[str, LoggedDecision]) -> None:
        for item in self.items:
            item.decision = decisions.get(item.sha256) if item.sha256 else None
        self._changed(list(range(len(self.items))))

    def counts(self) -> dict[str, int]:
        out = {"total": len(self.items), "scored": 0, "errors": 0, "reviewed": 0, "pending": 0}
        for it in self.items:
            if it.status == OK:
                out["scored"] += 1
            elif it.status == ERROR:
                out["errors"] += 1
            else:
                out["pending"] += 1
            if it.decision is not None:
                out["reviewed"] += 1
        return out


def _tooltip(item: FilmItem) -> str:
    lines = [str(item.path)]
    if item.status == OK:
        lines.append(f"pneumonia probability {item.probability:.1%} — model call {item.prediction}")
    elif item.status == ERROR:
        lines.append(f"unreadable: {item.error}")
    else:
        lines.append("not scored yet")
    if item.decision is not None:
        verdict = "agrees" if item.decision.agrees else "disagrees"
        lines.append(f"reviewed: {item.decision.decision} ({verdict} with the model)")
    lines += item.notes
    return "\n".join(lines)


class Filter:
    ALL = "all"
    UNREVIEWED = "unreviewed"
    DISAGREEMENTS = "disagreements"
    UNREADABLE = "unreadable"

    LABELS = {
        ALL: "All films",
        UNREVIEWED: "Unreviewed",
        DISAGREEMENTS: "Model / radiologist disagreements",
        UNREADABLE: "Unreadable",
    }


class FilmSortProxy(QSortFilterProxyModel):
    """Most suspicious first (C++ numeric comparison on Role.SORT_KEY), plus the review filters."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._mode = Filter.ALL
        self.setSortRole(Role.SORT_KEY)
        self.setDynamicSortFilter(True)

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in Filter.LABELS:
            raise ValueError(f"unknown filter {mode!r}")
        if mode == self._mode:
            return
        if hasattr(self, "endFilterChange"):  # Qt >= 6.9; invalidateRowsFilter is deprecated there
            self.beginFilterChange()
            self._mode = mode
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._mode = mode
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if self._mode == Filter.ALL:
            return True
        item: FilmItem = self.sourceModel().items[source_row]  # type: ignore[attr-defined]
        if self._mode == Filter.UNREADABLE:
            return item.status == ERROR
        if self._mode == Filter.UNREVIEWED:
            return item.status != ERROR and item.decision is None
        return item.decision is not None and not item.decision.agrees

    def item_at(self, index: QModelIndex) -> FilmItem | None:
        if not index.isValid():
            return None
        return self.sourceModel().items[self.mapToSource(index).row()]  # type: ignore[attr-defined]
