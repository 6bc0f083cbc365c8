"""The desktop review app (PySide6 + pyqtgraph). Qt is imported only inside this package."""
