"""What every subcommand shares: exit codes, how a command fails, argument types, the model to use.

Exit codes (the same for every command; README: Command line):

* ``0`` - done;
* ``2`` - nothing was done: a usage error, or an input, model, log or output that cannot be used;
* ``3`` - done, but some films could not be read (their rows are still written, or the report lists them);
* ``130`` - interrupted (Ctrl-C).

A command fails by raising :class:`CommandError` (or returning :func:`fail`); ``xrayviewer.cli.main``
prints ``xrayviewer COMMAND: error: MESSAGE`` on one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xrayviewer.common.text import path_text

if TYPE_CHECKING:
    from xrayviewer.inference.engine import Engine

EXIT_OK, EXIT_USAGE, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 130


class CommandError(Exception):
    """A command cannot go on; the message is for the user, ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    """Print ``xrayviewer COMMAND: error: MESSAGE`` to stderr and return ``code``."""
    print(f"xrayviewer {command}: error: {path_text(message)}", file=sys.stderr)
    return code


def command_name(args: argparse.Namespace) -> str:
    """``score``, ``review export``, ...: how messages name the command that ran."""
    parts = [getattr(args, "command", None) or "gui", getattr(args, "review_command", None)]
    return " ".join(p for p in parts if p)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def model_or_default(model: Path | None) -> Path:
    """``--model`` if given, else the bundled model's path (which may not exist; the GUI then says so)."""
    if model is not None:
        return model
    from xrayviewer.paths import default_model_path

    return default_model_path()


def resolve_model(model: Path | None) -> Path:
    """The model a command should load: ``--model``, or the bundled one. CommandError when neither exists.

    A given ``--model`` is returned as is: the engine explains what is wrong with it.
    """
    if model is not None:
        return model
    path = model_or_default(None)
    if not path.is_file():
        from xrayviewer.paths import models_dir

        raise CommandError(f"the bundled model is not installed (looked for *.onnx in {models_dir()}); "
                           "pass --model PATH to use another model")
    return path


def open_engine(model: Path | None, provider: str = "auto", **kwargs: Any) -> Engine:
    """Load the model (:func:`resolve_model`) into an onnxruntime engine; CommandError when unusable."""
    from xrayviewer.inference.engine import Engine, ModelError

    try:
        return Engine(resolve_model(model), provider, **kwargs)
    except ModelError as exc:
        raise CommandError(str(exc)) from None
