"""Application logging: rotating per-user file, terse stderr, never crashing on a read-only home, crash reports."""

from __future__ import annotations

import logging
import logging.handlers
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from xrayviewer import __version__, applog


@pytest.fixture(autouse=True)
def clean_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Logs go to a temp XDG_STATE_HOME; our handlers and hooks are removed again after each test."""
    monkeypatch.delenv(applog.LOG_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    level = root.level
    yield
    for h in [h for h in root.handlers if getattr(h, applog._OURS, False)]:
        root.removeHandler(h)
        h.close()
    root.setLevel(level)


def our_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, applog._OURS, False)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG layout is Linux's")
def test_log_dir_follows_xdg_state_home(tmp_path: Path) -> None:
    assert applog.log_dir() == tmp_path / "state" / "xrayviewer" / "log"


def test_log_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(applog.LOG_DIR_ENV, str(tmp_path / "elsewhere"))
    assert applog.log_dir() == tmp_path / "elsewhere"


def test_writes_a_rotating_file_and_terse_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    path = applog.setup_logging()
    assert path == applog.log_dir() / "xrayviewer.log"
    logging.getLogger("xrayviewer.test").info("detail for the file only")
    logging.getLogger("xrayviewer.test").warning("something the user should see")
    for h in our_handlers():
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert "detail for the file only" in text and "something the user should see" in text
    assert f"xrayviewer {__version__} started" in text
    err = capsys.readouterr().err
    assert "something the user should see" in err and "detail for the file only" not in err
    (file_handler,) = [h for h in our_handlers() if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert (file_handler.maxBytes, file_handler.backupCount) == (1_000_000, 5)


def test_verbose_shows_info_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    applog.setup_logging(verbose=True)
    logging.getLogger("xrayviewer.test").info("now visible")
    assert "now visible" in capsys.readouterr().err


def test_rotates_and_keeps_five_backups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(applog, "MAX_BYTES", 500)
    path = applog.setup_logging(console=False)
    assert path is not None
    for i in range(200):
        logging.getLogger("xrayviewer.test").info("line %d %s", i, "x" * 40)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["xrayviewer.log"] + [f"xrayviewer.log.{n}" for n in range(1, 6)]
    assert all(p.stat().st_size <= 600 for p in path.parent.iterdir())


def test_setup_twice_does_not_duplicate_handlers() -> None:
    applog.setup_logging()
    applog.setup_logging()
    assert len(our_handlers()) == 2  # one file, one stderr


def test_unwritable_log_dir_falls_back_to_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A log 'folder' under a regular file cannot be created, even as root (which ignores permissions)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(applog.LOG_DIR_ENV, str(blocker / "log"))
    assert applog.setup_logging(console=False) is None  # console=False, yet stderr is kept: the only record
    logging.getLogger("xrayviewer.test").error("still reported")
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1 and "logging to stderr only" in err
    assert "still reported" in err
    assert [type(h).__name__ for h in our_handlers()] == ["_StderrHandler"]


def test_read_only_log_file_falls_back_to_stderr(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Permission denied on the file itself (simulated: tests may run as root)."""

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(logging.handlers, "RotatingFileHandler", denied)
    assert applog.setup_logging() is None
    assert "Permission denied" in capsys.readouterr().err


def test_crash_handler_writes_a_report_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    applog.setup_logging(console=True)
    applog.install_crash_handler()
    try:
        raise ValueError("film decoder exploded\nsecond line")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    (report,) = applog.log_dir().glob("crash-*.txt")
    text = report.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "ValueError: film decoder exploded" in text
    assert f"version: {__version__}" in text and "argv:" in text and "platform:" in text
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"xrayviewer: unexpected error (ValueError: film decoder exploded); a crash report was saved to {report}"
    ]
    for h in our_handlers():
        h.flush()
    log_text = (applog.log_dir() / "xrayviewer.log").read_text(encoding="utf-8")
    assert "uncaught ValueError" in log_text and "Traceback" in log_text  # the file has the details


def test_crash_in_a_thread_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    applog.install_crash_handler()

    def work() -> None:
        raise RuntimeError("worker died")

    t = threading.Thread(target=work, name="scorer-1")
    t.start()
    t.join()
    (report,) = applog.log_dir().glob("crash-*.txt")
    text = report.read_text(encoding="utf-8")
    assert "thread: scorer-1" in text and "RuntimeError: worker died" in text
    assert "Traceback" not in capsys.readouterr().err


def test_two_crashes_in_one_second_get_two_files() -> None:
    a = applog.write_crash_report("one")
    b = applog.write_crash_report("two")
    assert a is not None and b is not None and a != b
    assert (a.read_text(), b.read_text()) == ("one", "two")


def test_crash_report_falls_back_to_temp_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(applog.LOG_DIR_ENV, str(blocker / "log"))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / "tmp"))
    path = applog.write_crash_report("report")
    assert path is not None and path.parent == tmp_path / "tmp"


def test_ctrl_c_is_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    applog.install_crash_handler()
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert capsys.readouterr().err.strip() == "xrayviewer: interrupted"
    assert not list(applog.log_dir().glob("crash-*.txt"))


def test_uncaught_exception_in_a_real_process(tmp_path: Path) -> None:
    """End to end: what a user sees when the app dies (one line), and the report left behind."""
    code = ("from xrayviewer.applog import install_crash_handler, setup_logging\n"
            "setup_logging(); install_crash_handler()\nraise OSError('disk on fire')\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XRAYVIEWER_LOG_DIR": str(tmp_path / "logs")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    (report,) = (tmp_path / "logs").glob("crash-*.txt")
    assert str(report) in r.stderr and "OSError: disk on fire" in report.read_text(encoding="utf-8")


def test_stderr_handler_follows_sys_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set up once, then stderr is redirected (pytest capture, a GUI without console): no stale stream."""
    import io

    applog.setup_logging(console=True)
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("xrayviewer.test").warning("after the redirect")
    assert "after the redirect" in later.getvalue()
    monkeypatch.setattr(sys, "stderr", None)
    logging.getLogger("xrayviewer.test").warning("no console at all")  # must not raise


def test_a_native_crash_leaves_its_stacks_in_the_log_folder(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = ("from xrayviewer.applog import install_crash_handler\n"
            "install_crash_handler()\n"
            "import faulthandler; faulthandler._sigsegv()\n")
    env = {**os.environ, "XRAYVIEWER_LOG_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    report = (tmp_path / "native-crashes.txt").read_text(encoding="utf-8")
    assert "Segmentation fault" in report and "File \"<string>\", line 3" in report


def test_credentials_in_urls_never_reach_the_log() -> None:
    argv = ["xrayviewer", "score", "--pacs", "https://bob:s3cret@pacs.local:8443/dicom-web", "--csv", "a@b.csv",
            "--ray-address", "ray://token@head:10001"]
    out = applog.redacted_argv(argv)
    assert "s3cret" not in " ".join(out) and "bob" not in " ".join(out) and "token" not in " ".join(out)
    assert out[3] == "https://***@pacs.local:8443/dicom-web" and out[5] == "a@b.csv"
    assert out[:3] == argv[:3]
