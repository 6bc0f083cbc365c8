"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV injection, OWASP).

Excel and LibreOffice evaluate a cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (and tab or
carriage return, which they skip before looking), so a note ``=1+1``, a reviewer named
``=cmd|' /C calc'!A0`` or a film named ``=HYPERLINK(1).jpeg`` would run when the CSV is opened. Every CSV
the project writes passes its cells through :func:`safe_cell`, which puts a single quote ``'`` in front of
such a cell: spreadsheets then show the text as it is (LibreOffice and Excel hide the quote or show it
as the first character; neither evaluates the cell).

The rule is reversible, so nothing is lost: a cell that already starts with ``'`` gets a second one. To
get the raw text back, remove one leading ``'`` from every cell that starts with one
(:func:`raw_cell`; in Python ``cell[1:] if cell.startswith("'") else cell``). Plain numbers, negative ones
included (``-0.5``, ``-1e-3``), are left alone: they are no formula, and they stay numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: First characters a spreadsheet treats as the start of a formula (OWASP's list), plus the quote itself
#: so that the rule can be undone exactly.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
QUOTE = "'"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> str:
    """The cell's text, with a leading ``'`` when a spreadsheet could take it for a formula."""
    text = "" if value is None else str(value)
    if text.startswith(TRIGGERS) and not _NUMBER.fullmatch(text):
        return QUOTE + text
    return text


def safe_row(cells: Iterable[object]) -> list[str]:
    """:func:`safe_cell` of every cell: what ``csv.writer.writerow`` should be given."""
    return [safe_cell(c) for c in cells]


def raw_cell(text: str) -> str:
    """The text :func:`safe_cell` was given (it undoes exactly what safe_cell did)."""
    return text[1:] if text.startswith(QUOTE) else text


def raw_row(cells: Iterable[str]) -> list[str]:
    return [raw_cell(c) for c in cells]
