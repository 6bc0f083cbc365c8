"""Thumbnails: decoded lazily off the GUI thread, newest request first, kept in a bounded LRU cache.

Only painted (visible) items ask for a thumbnail, so a 10,000-film folder costs what fits on screen. The
request stack is LIFO and bounded: after a fast scroll the films now on screen are decoded first and stale
requests fall off the bottom instead of queueing work nobody will see. The decoding runs as drain jobs on
:class:`~xrayviewer.gui.background.Background`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from xrayviewer.common.vocab import Label, Status
from xrayviewer.films import FilmError, load_film
from xrayviewer.gui.background import Background, background_threads
from xrayviewer.gui.film_model import Role
from xrayviewer.gui.lru import Lru
from xrayviewer.review.session import FilmItem, ReviewState

THUMB_SIZE = 128
CACHE_CAPACITY = 1200  # ~20 MB of 8-bit 128 px thumbnails
MAX_QUEUED = 256

CALL_COLOURS = {Label.PNEUMONIA: QColor("#e5484d"), Label.NORMAL: QColor("#30a46c")}
PENDING_COLOUR = QColor("#6b7280")
ERROR_COLOUR = QColor("#f5a524")
REVIEW_COLOURS = {ReviewState.AGREED: QColor("#3b82f6"), ReviewState.DISAGREED: QColor("#d946ef"),
                  ReviewState.LABELLED: QColor("#64748b"), ReviewState.FLAGGED: QColor("#64748b")}
REVIEW_MARKS = {ReviewState.AGREED: "✓", ReviewState.DISAGREED: "✗", ReviewState.LABELLED: "✎",
                ReviewState.FLAGGED: "!"}
BORDERLINE_COLOUR = QColor("#f5a524")  # amber: the call is close to the threshold
OUT_OF_SCOPE_COLOUR = QColor("#475569")  # slate: not a call, so neither red nor green


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Display-ready film of any dtype -> uint8, stretched between robust percentiles."""
    arr = np.asarray(pixels)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    step = max(1, int(np.sqrt(arr.size / 65536)))
    sample = arr[::step, ::step].astype(np.float32)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return np.zeros(arr.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    if hi - lo < 1e-6:
        hi = lo + 1.0
    out = (np.nan_to_num(arr.astype(np.float32), nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def gray_qimage(arr: np.ndarray) -> QImage:
    """uint8 (H, W) -> a QImage owning its own copy of the pixels (safe across threads)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w = arr.shape
    return QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def make_thumbnail(path: Path, size: int = THUMB_SIZE) -> tuple[QImage, str]:
    """Decode a film and shrink it; returns the image and the film's sha256. Raises FilmError."""
    film = load_film(path, min_size=size)  # lets JPEG/JPEG 2000 decode at reduced resolution
    img = Image.fromarray(to_uint8(film.pixels))
    img.thumbnail((size, size), Image.Resampling.BILINEAR)
    return gray_qimage(np.asarray(img)), film.sha256


class ThumbnailLoader(QObject):
    """Asynchronous, cached thumbnails keyed by path."""

    ready = Signal(str)  # a thumbnail (or its failure) for this path is now available
    hashed = Signal(str, str)  # path, sha256: learnt while decoding

    def __init__(self, parent: QObject | None = None, *, size: int = THUMB_SIZE,
                 capacity: int = CACHE_CAPACITY, threads: int | None = None,
                 maker: Callable[[Path, int], tuple[QImage, str]] = make_thumbnail) -> None:
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self.maker = maker
        self._cache: Lru[str, QImage] = Lru(capacity)
        self._failed: dict[str, str] = {}
        self._stack: deque[str] = deque()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._running = 0
        self._threads = threads or background_threads(2)
        self._generation = 0
        self.background = Background(self, threads=self._threads)

    def get(self, path: str) -> QImage | None:
        """The cached thumbnail, or None after queueing its decode (`ready` fires when it lands)."""
        img = self._cache.get(path)
        if img is not None:
            return img
        if path not in self._failed:
            self._request(path)
        return None

    def error(self, path: str) -> str | None:
        return self._failed.get(path)

    def cached_count(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        """Forget everything (a new folder): queued work is dropped, in-flight results are ignored."""
        with self._lock:
            self._stack.clear()
            self._queued.clear()
            self._generation += 1
        self._cache.clear()
        self._failed.clear()

    def _request(self, path: str) -> None:
        with self._lock:
            if path in self._queued:
                return
            self._queued.add(path)
            self._stack.append(path)
            while len(self._stack) > MAX_QUEUED:
                self._queued.discard(self._stack.popleft())
            start = self._running < self._threads
            if start:
                self._running += 1
        if start:
            self.background.run(self._drain, on_yield=self._on_done)

    def _drain(self) -> Iterator[tuple[str, QImage | None, str, str]]:
        """Pool thread: decode newest requests until the stack is empty, yielding (path, image, sha, error)."""
        counted = True  # this drain is in self._running until it leaves
        try:
            while True:
                with self._lock:
                    if not self._stack:
                        self._running -= 1
                        counted = False
                        return
                    path = self._stack.pop()
                    generation = self._generation
                image, sha, error = None, "", ""
                try:
                    image, sha = self.maker(Path(path), self.size)
                except FilmError as exc:
                    error = str(exc)
                except Exception as exc:  # a thumbnail must never take the app down
                    error = f"cannot make a thumbnail: {exc}"
                with self._lock:
                    self._queued.discard(path)
                    stale = generation != self._generation
                if not stale:
                    yield path, image, sha, error
        finally:
            if counted:  # stopped early: let the next request start a new drain
                with self._lock:
                    self._running -= 1

    def _on_done(self, done: tuple[str, QImage | None, str, str]) -> None:
        path, image, sha, error = done
        if image is None:
            self._failed[path] = error or "unreadable"
        else:
            self._cache.put(path, image)
        if sha:
            self.hashed.emit(path, sha)
        self.ready.emit(path)

    def shutdown(self) -> None:
        self.clear()
        self.background.wait(2000)


class ThumbnailDelegate(QStyledItemDelegate):
    """Thumbnail tile: the film, its probability and model call (colour + words), and its review state."""

    PAD = 6

    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.thumb = loader.size

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self.thumb + 2 * self.PAD, self.thumb + 2 * self.PAD + 38)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        item: FilmItem | None = index.data(Role.ITEM)
        if item is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r: QRect = option.rect
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        bg = pal.highlight().color() if selected else pal.base().color()
        painter.fillRect(r.adjusted(1, 1, -1, -1), bg)

        box = QRect(r.left() + self.PAD, r.top() + self.PAD, self.thumb, self.thumb)
        painter.fillRect(box, QColor("#000000"))
        image = self.loader.get(str(item.path))
        if image is not None:
            scaled = image.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(box.center())
            painter.drawImage(target, image)
        else:
            failed = self.loader.error(str(item.path)) is not None or item.status == Status.ERROR
            painter.setPen(ERROR_COLOUR if failed else PENDING_COLOUR)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "unreadable" if failed else "loading…")

        # Review marker, top right: blue check = agreed, magenta cross = disagreed, hollow ring = unreviewed.
        state = item.review_state
        mark = QRect(box.right() - 22, box.top() + 4, 18, 18)
        if state in REVIEW_COLOURS:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(REVIEW_COLOURS[state])
            painter.drawEllipse(mark)
            painter.setPen(QPen(QColor("white"), 2))
            f = painter.font()
            f.setBold(True)
            painter.setFont(f)
            painter.drawText(mark, Qt.AlignmentFlag.AlignCenter, REVIEW_MARKS[state])
        elif item.status == Status.OK:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor("#9ca3af"), 1.5))
            painter.drawEllipse(mark.adjusted(3, 3, -3, -3))

        # Badge: probability and the model's call, colour-coded but also spelled out.
        badge = QRect(r.left() + self.PAD, box.bottom() + 4, self.thumb, 16)
        if item.out_of_scope:  # no call: the reason instead (elided below; the tooltip has it whole)
            colour, text = OUT_OF_SCOPE_COLOUR, f"OUT OF SCOPE: {item.scope_reason}"
        elif item.status == Status.OK:
            colour, text = CALL_COLOURS.get(Label(item.prediction), PENDING_COLOUR), (
                f"{'≈ ' if item.borderline else ''}{item.probability:.0%}  {item.prediction}")
        elif item.status == Status.ERROR:
            colour, text = ERROR_COLOUR, "unreadable"
        else:
            colour, text = PENDING_COLOUR, "not scored"
        painter.setPen(QPen(BORDERLINE_COLOUR, 2) if item.borderline and item.judged else Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(badge, 4, 4)
        if item.borderline and item.judged:  # borderline: an amber corner flag as well as the frame and "≈"
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(BORDERLINE_COLOUR)
            painter.drawRect(QRect(box.left(), box.top(), 6, 18))
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        painter.setPen(QColor("white") if item.status != Status.ERROR else QColor("black"))
        text = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, badge.width() - 6)
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

        font.setBold(False)
        painter.setFont(font)
        name_rect = QRect(r.left() + self.PAD - 2, badge.bottom() + 2, self.thumb + 4, 16)
        painter.setPen(pal.highlightedText().color() if selected else pal.text().color())
        # Without the extension and elided in the middle: the distinguishing numbers are at both ends.
        name = painter.fontMetrics().elidedText(item.path.stem, Qt.TextElideMode.ElideMiddle, self.thumb + 4)
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignCenter, name)
        painter.restore()


