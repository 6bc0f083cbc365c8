"""The review session's films as a Qt list model, plus the proxy that sorts (most suspicious first) and filters.

The model is a thin Qt face of :class:`~xrayviewer.review.session.ReviewSession`: the items, their scores
and decisions live in the session; changes made through the model's methods update the session and tell the
views which rows changed. The source model keeps discovery order forever; all re-ordering happens in the
proxy, which orders a numpy array of sort keys (no Python comparison per pair) and moves the persistent
indexes along, so results streaming in re-sort rows without losing the selection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QAbstractProxyModel, QModelIndex, QPersistentModelIndex, Qt

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
        present = [r for r in rows if r is not None]
        if present:
            self.dataChanged.emit(self.index(min(present)), self.index(max(present)))

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


class FilmSortProxy(QAbstractProxyModel):
    """Most suspicious first, plus the review filters, ordered with numpy instead of Qt's sorting.

    QSortFilterProxyModel compares rows through ``data()``: a Python call per comparison, so a batch of scores
    landing in a 10,000-film study cost hundreds of milliseconds of GUI thread. Here the sort keys live in a
    numpy array (refreshed for the rows that changed), the order is one ``lexsort`` (descending key, then
    discovery order), and a changed order is one ``layoutChanged`` with the persistent indexes (the current
    film, the selection) moved along, so the reader's film stays selected however rows re-sort.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._mode = Filter.ALL
        self._keys = np.zeros(0, np.float64)  # sort key per source row
        self._accepted = np.zeros(0, bool)  # filter verdict per source row
        self._rows = np.zeros(0, np.int64)  # proxy row -> source row
        self._pos = np.zeros(0, np.int64)  # source row -> proxy row (-1: filtered out)

    # -- source wiring ------------------------------------------------------------------------------------

    def setSourceModel(self, source: Any) -> None:  # noqa: N802 - Qt's name
        old = self.sourceModel()
        if old is not None:
            for signal, slot in self._wiring(old):
                signal.disconnect(slot)
        self.beginResetModel()
        super().setSourceModel(source)
        for signal, slot in self._wiring(source):
            signal.connect(slot)
        self._rebuild()
        self.endResetModel()

    def _wiring(self, source: Any) -> list[tuple[Any, Any]]:
        return [(source.modelAboutToBeReset, self.beginResetModel), (source.modelReset, self._source_reset),
                (source.dataChanged, self._source_changed), (source.layoutChanged, self._source_reset_layout)]

    def _source_reset(self) -> None:
        self._rebuild()
        self.endResetModel()

    def _source_reset_layout(self) -> None:
        self._refresh(range(len(self._items())))

    def _items(self) -> list[FilmItem]:
        source = self.sourceModel()
        return source.items if isinstance(source, FilmListModel) else []

    def _rebuild(self) -> None:
        items = self._items()
        self._keys = np.array([it.sort_key for it in items], np.float64)
        self._accepted = np.array([self._mode.accepts(it) for it in items], bool)
        self._rows, self._pos = self._order()

    def _order(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._keys)
        every = np.arange(n, dtype=np.int64)
        ranked = np.lexsort((every, -self._keys))  # descending key; ties in discovery order
        rows = ranked[self._accepted[ranked]]
        pos = np.full(n, -1, np.int64)
        pos[rows] = np.arange(len(rows), dtype=np.int64)
        return rows, pos

    def _source_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, roles: Sequence[int] = ()) -> None:
        self._refresh(range(top_left.row(), bottom_right.row() + 1))

    def _refresh(self, source_rows: Iterable[int]) -> None:
        """Re-key and re-filter these source rows; re-order (one layout change) only if the order moved."""
        items = self._items()
        if len(self._keys) != len(items):
            self.beginResetModel()
            self._rebuild()
            self.endResetModel()
            return
        rows = list(source_rows)
        for r in rows:
            self._keys[r] = items[r].sort_key
            self._accepted[r] = self._mode.accepts(items[r])
        new_rows, new_pos = self._order()
        if np.array_equal(new_rows, self._rows):
            shown = [int(self._pos[r]) for r in rows if self._pos[r] >= 0]
            if shown:
                self.dataChanged.emit(self.index(min(shown), 0), self.index(max(shown), 0))
            return
        self._relayout(new_rows, new_pos)

    def _relayout(self, new_rows: np.ndarray, new_pos: np.ndarray) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        sources = [int(self._rows[i.row()]) if 0 <= i.row() < len(self._rows) else -1 for i in old]
        self._rows, self._pos = new_rows, new_pos
        moved = [self.index(int(new_pos[s]), 0) if s >= 0 and new_pos[s] >= 0 else QModelIndex() for s in sources]
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()

    # -- Qt API ---------------------------------------------------------------------------------------------

    def index(self, row: int, column: int = 0,
              parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if parent.isValid() or column != 0 or not 0 <= row < len(self._rows):
            return QModelIndex()
        return self.createIndex(row, 0)

    def parent(self, child: Any = None) -> Any:
        if child is None:  # QObject.parent()
            return super().parent()
        return QModelIndex()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 1

    def mapToSource(self, proxy: QModelIndex | QPersistentModelIndex) -> QModelIndex:
        source = self.sourceModel()
        if source is None or not proxy.isValid() or not 0 <= proxy.row() < len(self._rows):
            return QModelIndex()
        return source.index(int(self._rows[proxy.row()]), 0)

    def mapFromSource(self, source: QModelIndex | QPersistentModelIndex) -> QModelIndex:
        if not source.isValid() or not 0 <= source.row() < len(self._pos) or self._pos[source.row()] < 0:
            return QModelIndex()
        return self.createIndex(int(self._pos[source.row()]), 0)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Always most suspicious first (kept for callers that ask for it)."""

    # -- the review filters -----------------------------------------------------------------------------------

    @property
    def mode(self) -> Filter:
        return self._mode

    def set_mode(self, mode: Filter | str) -> None:
        mode = Filter(mode)  # ValueError for an unknown filter
        if mode == self._mode:
            return
        self._mode = mode
        self._accepted = np.array([mode.accepts(it) for it in self._items()], bool)
        self._relayout(*self._order())

    def item_at(self, index: QModelIndex | QPersistentModelIndex) -> FilmItem | None:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._items()[int(self._rows[index.row()])]

    def items_in_order(self) -> list[FilmItem]:
        """The shown films in display order (most suspicious first)."""
        items = self._items()
        return [items[r] for r in self._rows.tolist()]

    def iter_items(self) -> Iterator[FilmItem]:
        """The shown films in display order, lazily: finding the first unreviewed film of a 10,000-film study
        usually reads a handful, not all of them."""
        items, rows = self._items(), self._rows
        for start in range(0, len(rows), 64):
            for r in rows[start:start + 64].tolist():
                yield items[r]
