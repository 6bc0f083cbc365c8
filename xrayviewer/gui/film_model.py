"""The review session's films as a Qt list model, plus the proxy that sorts (most suspicious first) and filters.

The model is a thin Qt face of :class:`~xrayviewer.review.session.ReviewSession`: the items, their scores
and decisions live in the session; changes made through the model's methods update the session and tell the
views which rows changed. The source model keeps discovery order forever; all re-ordering happens in the
proxy with dynamic sort on a numeric key, so results streaming in re-sort rows without a Python comparison
per pair and without losing the selection (the proxy keeps persistent indexes up to date).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from xrayviewer.common.vocab import Status
from xrayviewer.review import LoggedDecision
from xrayviewer.review.session import FilmItem, Filter, ReviewSession, ScoredFilm


class Role(IntEnum):
    ITEM = Qt.ItemDataRole.UserRole + 1
    SORT_KEY = Qt.ItemDataRole.UserRole + 2
    PROBABILITY = Qt.ItemDataRole.UserRole + 3
    STATUS = Qt.ItemDataRole.UserRole + 4
    REVIEW = Qt.ItemDataRole.UserRole + 5
    PATH = Qt.ItemDataRole.UserRole + 6


_SORT_ROLE = int(Role.SORT_KEY)


class FilmListModel(QAbstractListModel):
    """The session's FilmItems in discovery order."""

    def __init__(self, session: ReviewSession | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.session = session if session is not None else ReviewSession()

    @property
    def items(self) -> list[FilmItem]:
        return self.session.items

    # -- Qt API -------------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.session.items)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        items = self.session.items
        row = index.row()
        if role == _SORT_ROLE:  # hot path: the proxy asks for it on every comparison
            return items[row].sort_key if 0 <= row < len(items) else None
        if not index.isValid() or not 0 <= row < len(items):
            return None
        item = items[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(item)
        if role == Role.ITEM:
            return item
        if role == Role.PROBABILITY:
            return item.probability
        if role == Role.STATUS:
            return str(item.status)
        if role == Role.REVIEW:
            return str(item.review_state)
        if role == Role.PATH:
            return str(item.path)
        return None

    # -- changes, through the session -----------------------------------------------------------------------

    def open(self, folder: Path, paths: Sequence[Path]) -> str:
        """A new study; returns the session's warning ('' if none)."""
        self.beginResetModel()
        warning = self.session.open(folder, paths)
        self.endResetModel()
        return warning

    def row_of(self, path: Path) -> int | None:
        return self.session.row_of(path)

    def item(self, row: int) -> FilmItem:
        return self.session.items[row]

    def rows_changed(self, rows: Iterable[int | None]) -> None:
        """Tell the views these rows changed (one signal for the span)."""
        rows = [r for r in rows if r is not None]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def all_changed(self) -> None:
        if self.session.items:
            self.dataChanged.emit(self.index(0), self.index(len(self.session.items) - 1))

    def apply_results(self, results: Iterable[ScoredFilm]) -> list[int]:
        """Merge scoring results; one dataChanged per batch."""
        rows = self.session.apply_results(results)
        self.rows_changed(rows)
        return rows

    def learn_sha(self, path: Path, sha256: str) -> None:
        self.rows_changed([self.session.learn_sha(path, sha256)])

    def mark_unreadable(self, path: Path, error: str) -> bool:
        row = self.session.mark_unreadable(path, error)
        self.rows_changed([row])
        return row is not None

    def item_changed(self, item: FilmItem) -> None:
        self.rows_changed([self.session.row_of(item.path)])

    def decision_recorded(self, logged: LoggedDecision) -> None:
        """Repaint every film with this hash (duplicates share a decision, as the log keys on the hash)."""
        self.rows_changed(self.session.rows_of_sha(logged.sha256))

    def counts(self) -> dict[str, int]:
        return self.session.counts().as_dict()


def _tooltip(item: FilmItem) -> str:
    lines = [str(item.path)]
    if item.out_of_scope:
        lines.append(f"out of scope, not judged by the model: {item.scope_reason}")
    elif item.status == Status.OK:
        lines.append(f"pneumonia probability {item.probability:.1%} — model call {item.prediction}")
        if item.borderline:
            lines.append("borderline: close to the threshold, the model is unsure")
    elif item.status == Status.ERROR:
        lines.append(f"unreadable: {item.error}")
        if (u := item.unreadable_decision) is not None:
            lines.append(f"marked {u.decision.replace('_', '-').lower()} by {u.reviewer}")
    else:
        lines.append("not scored yet")
    if item.warnings:
        lines.append(f"warning: {item.warnings}")
    decision = item.decision
    if decision is not None and not decision.in_scope:
        lines.append(f"labelled: {decision.decision} (out of scope: no model call)")
    elif decision is not None:
        verdict = "agrees" if decision.agrees else "disagrees"
        lines.append(f"reviewed: {decision.decision} ({verdict} with the model)")
    lines += item.notes
    return "\n".join(lines)


class FilmSortProxy(QSortFilterProxyModel):
    """Most suspicious first (C++ numeric comparison on Role.SORT_KEY), plus the review filters."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._mode = Filter.ALL
        self.setSortRole(Role.SORT_KEY)
        self.setDynamicSortFilter(True)

    @property
    def mode(self) -> Filter:
        return self._mode

    def set_mode(self, mode: Filter | str) -> None:
        mode = Filter(mode)  # ValueError for an unknown filter
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
        if self._mode is Filter.ALL:
            return True
        return self._mode.accepts(self.sourceModel().items[source_row])  # type: ignore[attr-defined]

    def item_at(self, index: QModelIndex | QPersistentModelIndex) -> FilmItem | None:
        if not index.isValid():
            return None
        return self.sourceModel().items[self.mapToSource(index).row()]  # type: ignore[attr-defined]

    def items_in_order(self) -> list[FilmItem]:
        """The shown films in display order (most suspicious first)."""
        return [self.item_at(self.index(r, 0)) for r in range(self.rowCount())]  # type: ignore[misc]
