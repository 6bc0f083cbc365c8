"""Command line: thin shells over the core. Each subcommand lives in its own module.

Heavy imports (onnxruntime, Qt, torch) happen inside the subcommand that needs them, so
`xrayviewer --help` is instant and the runtime never needs torch. Exit codes, failing, argument types and
resolving the model are shared by every command through :mod:`xrayviewer.cli.common`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from xrayviewer import NOTICE, __version__
from xrayviewer.applog import install_crash_handler, setup_logging
from xrayviewer.cli.common import EXIT_INTERRUPTED, CommandError, command_name, fail

# modules under xrayviewer.cli, each providing add_parser(subparsers) which sets func=run
SUBCOMMANDS = ("gui", "score", "review", "train", "evaluate", "pacs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xrayviewer",
        description="Pneumonia triage assistant for pediatric chest X-rays. " + NOTICE,
    )
    parser.add_argument("--version", action="version", version=f"xrayviewer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"xrayviewer.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("xrayviewer.cli"):
                continue  # subcommand not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(verbose=args.verbose)
    install_crash_handler()
    if args.command is None:  # plain `xrayviewer` opens the app on the sample study
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "gui"])
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        return fail(command_name(args), str(exc), exc.code)


if __name__ == "__main__":
    sys.exit(main())
