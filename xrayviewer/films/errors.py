"""The one exception type the film package raises, so callers need a single ``except``."""

from __future__ import annotations


class FilmError(Exception):
    """A film could not be found, read or decoded.

    ``str(error)`` is one short, user-facing sentence naming the problem (no paths, no tracebacks);
    ``sha256`` is the hash of the file bytes when they could be read, so a failed film can still be
    identified in logs and caches.
    """

    def __init__(self, message: str, *, sha256: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sha256 = sha256

    def __str__(self) -> str:
        return self.message
