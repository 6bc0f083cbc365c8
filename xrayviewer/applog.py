"""Application logging and crash reports (core: no Qt, no torch).

A per-user rotating log file keeps enough history to support a radiologist's "it did something odd
yesterday", while stderr stays terse. Uncaught exceptions become a crash report file plus one line to
the user, never a traceback wall. Nothing here ever leaves the machine; reports may contain file paths.

Use from the entry point::

    setup_logging(verbose=args.verbose)
    install_crash_handler()
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import platform
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType

import platformdirs

from xrayviewer import __version__

LOG_FILE_NAME = "xrayviewer.log"
MAX_BYTES = 1_000_000  # per file; with BACKUP_COUNT this caps the logs at ~6 MB per user
BACKUP_COUNT = 5
#: Overrides log_dir(), for locked-down machines where IT wants logs elsewhere (and for tests).
LOG_DIR_ENV = "XRAYVIEWER_LOG_DIR"

FILE_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(threadName)s] %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"

log = logging.getLogger(__name__)

_OURS = "_xrayviewer_handler"  # attribute marking handlers we installed, so setup can be repeated


def log_dir() -> Path:
    """Per-user log folder (Linux: ``$XDG_STATE_HOME/xrayviewer/log``), or ``$XRAYVIEWER_LOG_DIR``."""
    if env := os.environ.get(LOG_DIR_ENV):
        return Path(env)
    return Path(platformdirs.user_log_dir("xrayviewer", appauthor=False))


def log_file() -> Path:
    """The current log file (older ones are ``xrayviewer.log.1`` .. ``.5`` beside it)."""
    return log_dir() / LOG_FILE_NAME


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is *now* (pytest's capture, a redirect), skipping it when there is none."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:  # set by StreamHandler.__init__; ignored
        pass

    def emit(self, record: logging.LogRecord) -> None:
        if sys.stderr is not None:  # None in a windowed (no-console) frozen app
            super().emit(record)


def _not_crash(record: logging.LogRecord) -> bool:
    """Console filter: crash records carry a full traceback meant for the file, not the terminal."""
    return not getattr(record, "crash_report", False)


# Libraries that log their own decode failures (with tracebacks) for films we already report one clear
# message about: on the console they would bury that message; the log file still keeps them.
_QUIET_ON_CONSOLE = ("pydicom",)


def _not_library_noise(record: logging.LogRecord) -> bool:
    return record.name.split(".")[0] not in _QUIET_ON_CONSOLE or record.levelno >= logging.CRITICAL


def setup_logging(verbose: bool = False, console: bool = True) -> Path | None:
    """Configure the root logger: rotating file (INFO, DEBUG if verbose) + stderr (WARNING, INFO if verbose).

    Returns the log file, or None when the log folder is not writable: then logging goes to stderr only,
    with one warning saying so, because a read-only home must never stop a radiologist's work.
    Safe to call again (replaces only the handlers it installed).
    """
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

    wanted = log_file()
    path: Path | None = None  # the log file, once it is open
    file_handler: logging.Handler | None = None
    problem = ""
    try:
        wanted.parent.mkdir(parents=True, exist_ok=True)
        # Opened now (not delayed) so an unwritable file is found here, not at the first message.
        file_handler = logging.handlers.RotatingFileHandler(
            wanted, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
        path = wanted
    except OSError as exc:
        problem = f"{exc.strerror or exc}"
    if file_handler is not None:
        file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
        setattr(file_handler, _OURS, True)
        root.addHandler(file_handler)

    # Without a file, stderr is the only record left, so it is kept even when console=False.
    if console or file_handler is None:
        stream = _StderrHandler()
        stream.setLevel(logging.INFO if verbose else logging.WARNING)
        stream.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        stream.addFilter(_not_crash)
        if not verbose:
            stream.addFilter(_not_library_noise)
        setattr(stream, _OURS, True)
        root.addHandler(stream)

    if file_handler is None:
        log.warning("cannot write the log file in %s (%s); logging to stderr only", log_dir(), problem)
    else:
        log.info("xrayviewer %s started: argv=%r python=%s platform=%s frozen=%s",
                 __version__, redacted_argv(), platform.python_version(), platform.platform(),
                 bool(getattr(sys, "frozen", False)))
    return path


def crash_report_text(exc_type: type[BaseException], exc: BaseException | None,
                      tb: TracebackType | None, thread_name: str | None = None) -> str:
    """The crash report: what a developer needs to reproduce it, nothing sent anywhere."""
    lines = [
        "xrayviewer crash report",
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"version: {__version__}",
        f"python: {sys.version.splitlines()[0]} ({sys.executable})",
        f"platform: {platform.platform()}",
        f"frozen: {bool(getattr(sys, 'frozen', False))}",
        f"argv: {redacted_argv()!r}",
        f"thread: {thread_name or threading.current_thread().name}",
        "",
        "".join(traceback.format_exception(exc_type, exc, tb)).rstrip(),
        "",
    ]
    return "\n".join(lines)


def write_crash_report(text: str) -> Path | None:
    """Write `text` to ``log_dir()/crash-YYYYmmdd-HHMMSS.txt`` (temp folder if that fails); None if nowhere."""
    import tempfile

    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in (log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(100):  # two crashes in one second (two threads) get separate files
                path = folder / (f"crash-{stamp}.txt" if n == 0 else f"crash-{stamp}-{n}.txt")
                try:
                    with open(path, "x", encoding="utf-8") as fh:
                        fh.write(text)
                    return path
                except FileExistsError:
                    continue
        except OSError:
            continue
    return None


def _report(exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None,
            thread_name: str | None = None) -> None:
    try:
        text = crash_report_text(exc_type, exc, tb, thread_name)
        path = write_crash_report(text)
        logging.getLogger("xrayviewer.crash").critical(
            "uncaught %s%s; crash report: %s", exc_type.__name__,
            f" in thread {thread_name}" if thread_name else "", path,
            # A thread hook may have no exception object (exc_value None); the report above still has the type.
            exc_info=(exc_type, exc, tb) if exc is not None else False, extra={"crash_report": True},
        )
        summary = str(exc).strip().splitlines()[0][:200] if exc is not None and str(exc).strip() else ""
        what = f"{exc_type.__name__}: {summary}" if summary else exc_type.__name__
        if sys.stderr is None:
            return
        if path is not None:
            print(f"xrayviewer: unexpected error ({what}); a crash report was saved to {path}", file=sys.stderr)
        else:  # nowhere to write it: the traceback on stderr is the only copy left
            print(text, file=sys.stderr)
    except Exception:  # the crash handler itself must never hide the original error
        sys.__excepthook__(exc_type, exc if exc is not None else exc_type(), tb)


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):  # Ctrl-C is the user's choice, not a crash
        if sys.stderr is not None:
            print("xrayviewer: interrupted", file=sys.stderr)
        return
    _report(exc_type, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, SystemExit):  # as the default hook: a thread's sys.exit() is silent
        return
    name = args.thread.name if args.thread is not None else None
    _report(args.exc_type, args.exc_value, args.exc_traceback, name)


def install_crash_handler() -> None:
    """Route uncaught exceptions (main thread and worker threads) to a crash report file + one stderr line.

    Qt slots that raise also reach sys.excepthook (PySide6 then carries on), so GUI errors are reported too.
    """
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    _enable_native_crash_log()


_native_log: object | None = None  # kept open for the life of the process: faulthandler writes to its fd


def _enable_native_crash_log() -> None:
    """A segfault or abort in native code (Qt, a decoder) leaves its Python stacks in the log folder.

    faulthandler can only write to an open file, so one is kept open; the app's own crash reports cover
    Python exceptions, this covers what kills the interpreter.
    """
    global _native_log
    if _native_log is not None:
        return
    try:
        log_dir().mkdir(parents=True, exist_ok=True)
        f = open(log_dir() / "native-crashes.txt", "a", encoding="utf-8")  # noqa: SIM115 - lives on
    except OSError:
        return
    faulthandler.enable(file=f, all_threads=True)
    _native_log = f


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redacted_argv(argv: list[str] | None = None) -> list[str]:
    """The command line with credentials in URLs (``https://user:pw@host``) replaced: logs never hold them."""
    return [_USERINFO.sub(r"\g<scheme>***@", a) for a in (sys.argv if argv is None else argv)]
