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

    def __reduce__(self) -> tuple[object, ...]:  # keep sha256 across process pools
        return (_rebuild, (self.message, self.sha256))


def _rebuild(message: str, sha256: str | None) -> FilmError:
    return FilmError(message, sha256=sha256)


_NEVER_WRAPPED = (KeyboardInterrupt, SystemExit, GeneratorExit, FilmError)


def is_decoder_failure(exc: BaseException) -> bool:
    """True for errors a decoder may raise on bad data, which we turn into a FilmError.

    Besides ordinary exceptions this includes Rust panics from pylibjpeg-rle (PyO3's PanicException
    derives from BaseException), but never Ctrl-C, interpreter exit or our own FilmError.
    """
    return not isinstance(exc, _NEVER_WRAPPED)
