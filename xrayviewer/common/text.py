"""Text for people and files: paths that never raise on odd bytes, numbers that say n/a when undefined."""

from __future__ import annotations

import math
import os


def path_text(value: str | os.PathLike[str]) -> str:
    """Any path or str -> printable, UTF-8-encodable text, never raising.

    File names with bytes that are not UTF-8 reach Python as surrogate escapes; they come out as ``\\xNN``
    (``caf\\xe9.jpeg``), so CSVs, SQLite, terminals and Qt all accept them. Stray surrogates that are not
    escapes come out as ``\\udNNN``. Valid text is returned unchanged.
    """
    text = os.fspath(value)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def format_or_na(value: float, pattern: str) -> str:
    """``format(value, pattern)``, or ``n/a`` for a NaN or infinite value (a rate with nothing to count)."""
    try:
        finite = math.isfinite(value)
    except TypeError:
        return "n/a"
    return format(value, pattern) if finite else "n/a"
