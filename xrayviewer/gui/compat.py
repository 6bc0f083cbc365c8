"""Work-arounds for known PySide6 defects, applied once when the GUI package is imported.

PySide6 6.12.0 on CPython < 3.12 drops a reference to ``None`` on every call of a C++ method returning void
(QPainter.setPen, QObject.setObjectName, ...) and to ``True`` on every ``Signal.emit``. Those singletons are
not immortal before 3.12, so after enough calls (minutes of pyqtgraph painting, or a long scoring run)
CPython aborts with "deallocating None" / "deallocating True or False". Installing a PySide6-Essentials
other than 6.12.0 is the real fix; this guard keeps the app alive if that version is installed anyway, by
giving the leaked singletons the effectively infinite reference count they have on 3.12+.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_BOOST = 1 << 52  # ~4.5e15 leaked references before trouble: never, in practice
_applied = False


def pyside_leaks_singletons() -> bool:
    """Probe: does a void PySide6 call lower None's, or a signal emit lower True's, reference count?"""
    if sys.version_info >= (3, 12):
        return False  # None/True/False are immortal there
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(64):
        probe.setObjectName("probe")
        probe.ping.emit()
    return sys.getrefcount(None) < none_before - 32 or sys.getrefcount(True) < true_before - 32


def _boost(obj: object) -> bool:
    refcnt = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt: the first field of every PyObject
    before = sys.getrefcount(obj)
    refcnt.value += _BOOST
    if sys.getrefcount(obj) - before != _BOOST:  # unexpected object layout: undo
        refcnt.value -= _BOOST
        return False
    return True


def guard_singleton_refcounts() -> bool:
    """Make None/True/False effectively immortal when this PySide6 leaks them; True if the guard is active."""
    global _applied
    if _applied:
        return True
    if not pyside_leaks_singletons():
        return False
    import PySide6

    version = getattr(PySide6, "__version__", "?")
    if not all(_boost(obj) for obj in (None, True, False)):
        log.error("PySide6 %s leaks references to None/True and the guard could not be applied; install a "
                  "PySide6-Essentials other than %s", version, version)
        return False
    _applied = True
    log.warning("PySide6 %s leaks references to None/True on Python %d.%d; guard applied (install a "
                "PySide6-Essentials other than %s to fix this properly)", version, *sys.version_info[:2],
                version)
    return True
