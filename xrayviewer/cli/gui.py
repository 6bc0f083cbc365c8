"""`xrayviewer gui`: the desktop review app (also what `xrayviewer` with no command runs).

Exit codes: the app's (0 after a normal quit); 2 when FOLDER does not exist. A missing or broken model is not
an error here: the app opens, says why and lets the reviewer browse films.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xrayviewer.cli.common import CommandError, model_or_default
from xrayviewer.inference.engine import PROVIDERS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gui", help="review films in the desktop app (default command)",
                              description="Open the review app. Without FOLDER it opens the bundled samples.")
    p.add_argument("folder", nargs="?", type=Path,
                   help="folder of films (JPEG, PNG, DICOM), or one film: its folder opens with it selected")
    p.add_argument("--log", type=Path, default=None, help="agreement log (SQLite); default: per-user data")
    p.add_argument("--model", type=Path, default=None, help="ONNX model; default: the bundled one")
    p.add_argument("--provider", choices=PROVIDERS, default="auto", help="onnxruntime provider")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.folder is not None and not args.folder.exists():
        raise CommandError(f"no such folder or film: {args.folder}")
    from xrayviewer.gui.app import main

    return main(args.folder, model_path=model_or_default(args.model), log_path=args.log, provider=args.provider)
