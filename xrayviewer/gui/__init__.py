"""The desktop review app (PySide6 + pyqtgraph). Qt is imported only inside this package."""

from xrayviewer.gui.compat import guard_singleton_refcounts

guard_singleton_refcounts()  # before any widget exists: see compat.py (PySide6 6.12.0 on Python < 3.12)
