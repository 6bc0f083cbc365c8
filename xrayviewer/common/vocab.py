"""The words the app, the CSVs and the log share: the two labels and a film's scoring status.

Both are ``str`` enums, so a member equals its text (``Label.NORMAL == "NORMAL"``) and is written as that
text to CSV, JSON and SQLite; files and the log keep plain strings.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal


class TextEnum(str, Enum):
    """A str enum that is its text everywhere: str() and format() give the value on every Python (3.12
    changed format() of mixed-in enums), and it hashes like the value, so ``{Label.NORMAL: x}["NORMAL"]``
    finds x."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __hash__(self) -> int:
        return hash(str(self.value))


class Label(TextEnum):
    """What a film shows, as the model calls it and as the radiologist decides it."""

    NORMAL = "NORMAL"
    PNEUMONIA = "PNEUMONIA"

    @property
    def opposite(self) -> Label:
        return Label.NORMAL if self is Label.PNEUMONIA else Label.PNEUMONIA

    @property
    def class_index(self) -> int:
        """0 NORMAL, 1 PNEUMONIA: the class index of training data and metrics."""
        return 0 if self is Label.NORMAL else 1

    @classmethod
    def of_index(cls, index: int) -> Label:
        return LABEL_ORDER[int(index)]


#: The labels in class-index order.
LABEL_ORDER: tuple[Label, Label] = (Label.NORMAL, Label.PNEUMONIA)
#: The same as plain text (what the log's CHECK constraint and the CSVs hold).
LABELS: tuple[str, str] = ("NORMAL", "PNEUMONIA")
LabelText = Literal["NORMAL", "PNEUMONIA"]


class Status(TextEnum):
    """Where a film stands with the model: not scored yet, scored, or unreadable."""

    PENDING = "pending"
    OK = "ok"
    ERROR = "error"
