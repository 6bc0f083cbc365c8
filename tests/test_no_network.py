"""Films never leave the machine: the CLI scorer and the GUI open no network socket.

Each scenario runs in a fresh interpreter whose socket layer is patched before anything of ours is
imported: `socket.socket.connect/connect_ex/sendto/bind`, `socket.create_connection`, `getaddrinfo` and
`gethostbyname` record the attempt (to a file) and raise. The test then asserts nothing was recorded,
so even an attempt whose error the code swallowed fails it.

AF_UNIX sockets are allowed: they are local IPC (Qt/D-Bus on a desktop), not network. Name lookups are
always forbidden, whatever the name.

Native code (Qt, onnxruntime) calls the C library directly, which a Python patch cannot see, so when
`strace` is installed the same scenarios also run under it, failing on any AF_INET/AF_INET6 connect,
bind or sendto system call.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Installed first thing in the child; RECORD names the file attempts are appended to.
GUARD = r'''
import os, socket

_RECORD = os.environ["XRAYVIEWER_NET_RECORD"]

def _blocked(what):
    with open(_RECORD, "a", encoding="utf-8") as fh:
        fh.write(what + "\n")
    raise OSError(f"network access blocked by tests/test_no_network.py: {what}")

def _guard_method(name):
    original = getattr(socket.socket, name)
    def guarded(self, *args, **kwargs):
        loopback_bind = name == "bind" and args and isinstance(args[0], tuple) and args[0][0] in ("::1", "127.0.0.1")
        if self.family != socket.AF_UNIX and not loopback_bind:
            _blocked(f"socket.{name}{args!r} family={self.family!r}")
        return original(self, *args, **kwargs)
    setattr(socket.socket, name, guarded)

for _name in ("connect", "connect_ex", "sendto", "bind"):
    _guard_method(_name)

def _guard_function(name):
    def guarded(*args, **kwargs):
        _blocked(f"socket.{name}{args!r}")
    setattr(socket, name, guarded)

for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
    _guard_function(_name)
'''

CLI = GUARD + r'''
import sys
from xrayviewer.cli import main
sys.exit(main(["score", sys.argv[1], "--csv", sys.argv[2], "--model", sys.argv[3], "-q"]))
'''

# Open the app on the samples, wait until scoring is done (or 60 s), then close it cleanly.
GUI = GUARD + r'''
import sys, time
from pathlib import Path
from PySide6.QtCore import QTimer
from xrayviewer.gui.app import create_app, create_window

app = create_app()
window = create_window(Path(sys.argv[1]), model_path=Path(sys.argv[3]), log_path=Path(sys.argv[2]))
window.show()
start = time.monotonic()

def poll():
    state = getattr(window, "run_state", None)
    if state in ("done", "failed", "cancelled") or time.monotonic() - start > 60:
        print(f"run_state={state}", flush=True)
        getattr(window, "shutdown", lambda: None)()
        app.quit()
    else:
        QTimer.singleShot(100, poll)

QTimer.singleShot(100, poll)
sys.exit(app.exec())
'''

STRACE_NET = re.compile(r"\b(connect|bind|sendto)\(.*\bsa_family=AF_INET6?\b")
# Binding the loopback address reaches no network: urllib3 (imported by pydicom whenever requests is installed)
# probes IPv6 support at import time by binding ::1.
LOOPBACK_BIND = re.compile(r'\bbind\(.*(inet_pton\(AF_INET6, "::1"|inet_addr\("127\.0\.0\.1"\))')


def _is_network(line: str) -> bool:
    return bool(STRACE_NET.search(line)) and not LOOPBACK_BIND.search(line)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx", reason="the tiny test model needs onnx (test extra)")
    from tests.helpers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


def _env(tmp: Path) -> dict[str, str]:
    """Isolated from the user's settings/logs, offscreen, with the record file set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAYVIEWER_")}
    env.update(
        QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"),
        XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(tmp / "cache"),
        XRAYVIEWER_SETTINGS=str(tmp / "settings.ini"), XRAYVIEWER_NET_RECORD=str(tmp / "net.txt"),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _run(code: str, args: list[str], tmp: Path, *, strace: bool = False) -> tuple[subprocess.CompletedProcess[str],
                                                                                   list[str], list[str]]:
    """Run `code` in a child; returns (result, Python-level attempts, native AF_INET/6 syscalls)."""
    env = _env(tmp)
    cmd = [sys.executable, "-c", code, *args]
    trace = tmp / "strace.txt"
    if strace:
        cmd = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect,bind,sendto", "-o", str(trace), *cmd]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    record = tmp / "net.txt"
    attempts = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    native = [ln for ln in trace.read_text(errors="replace").splitlines() if _is_network(ln)] if strace else []
    return result, attempts, native


def _gui_available() -> str | None:
    """None if the GUI entry exists, else why the GUI test is skipped."""
    try:
        import PySide6  # noqa: F401

        from xrayviewer.gui import app
    except ImportError as exc:
        return f"GUI not importable: {exc}"
    missing = [n for n in ("create_app", "create_window") if not hasattr(app, n)]
    return f"xrayviewer.gui.app lacks {missing}" if missing else None


def _check_cli(tmp: Path, model: Path, strace: bool) -> None:
    out = tmp / "scores.csv"
    result, attempts, native = _run(CLI, [str(ROOT / "resources" / "samples"), str(out), str(model)], tmp,
                                    strace=strace)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_text(encoding="utf-8").count("\n") == 17  # header + 16 films: it really ran
    assert attempts == [], f"the CLI tried to use the network: {attempts}"
    assert native == [], f"the CLI made network system calls: {native[:5]}"


def _check_gui(tmp: Path, model: Path, strace: bool) -> None:
    if reason := _gui_available():
        pytest.skip(reason)
    result, attempts, native = _run(GUI, [str(ROOT / "resources" / "samples"), str(tmp / "log.sqlite3"),
                                          str(model)], tmp, strace=strace)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run_state=done" in result.stdout, (result.stdout + result.stderr)[-3000:]  # it scored the study
    assert attempts == [], f"the GUI tried to use the network: {attempts}"
    assert native == [], f"the GUI made network system calls: {native[:5]}"


def test_guard_catches_a_connection(tmp_path: Path) -> None:
    """The guard itself works: a deliberate connection attempt is recorded (so an empty record means something)."""
    code = GUARD + (
        "import contextlib, socket\n"
        "with contextlib.suppress(OSError):\n    socket.create_connection(('example.org', 80), timeout=1)\n"
        "with contextlib.suppress(OSError):\n    socket.socket().connect(('127.0.0.1', 9))\n"
    )
    result, attempts, _ = _run(code, [], tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(attempts) == 2 and "create_connection" in attempts[0] and "connect" in attempts[1]


def test_strace_pattern() -> None:
    """The native check flags IPv4/IPv6 connect/bind/sendto lines as strace prints them, not AF_UNIX ones."""
    flagged = [
        '7 connect(3, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = -1',
        '7 sendto(3, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(9)}, 28) = 1',
        '7 bind(5, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0',
    ]
    allowed = ['7 connect(3, {sa_family=AF_UNIX, sun_path="/run/dbus/system_bus_socket"}, 110) = 0',
               '7 sendto(4, "\\24\\0", 20, 0, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20',
               '7 bind(3, {sa_family=AF_INET6, sin6_port=htons(0), sin6_flowinfo=htonl(0), '
               'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0']
    assert all(_is_network(ln) for ln in flagged)
    assert not any(_is_network(ln) for ln in allowed)


def test_cli_score_opens_no_socket(tmp_path: Path, tiny_model: Path) -> None:
    _check_cli(tmp_path, tiny_model, strace=False)


def test_gui_startup_opens_no_socket(tmp_path: Path, tiny_model: Path) -> None:
    _check_gui(tmp_path, tiny_model, strace=False)


def _strace_unusable() -> str | None:
    """None if strace can trace here; else why not (not installed, or ptrace forbidden in this container)."""
    if not sys.platform.startswith("linux") or shutil.which("strace") is None:
        return "strace not installed (apt-get install strace): native calls unchecked"
    probe = subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect", "-o", os.devnull, "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.strip()[:200]}"
    return None


_STRACE_PROBLEM = _strace_unusable()
needs_strace = pytest.mark.skipif(_STRACE_PROBLEM is not None, reason=_STRACE_PROBLEM or "")


@needs_strace
def test_cli_score_makes_no_network_syscalls(tmp_path: Path, tiny_model: Path) -> None:
    _check_cli(tmp_path, tiny_model, strace=True)


@needs_strace
def test_gui_startup_makes_no_network_syscalls(tmp_path: Path, tiny_model: Path) -> None:
    _check_gui(tmp_path, tiny_model, strace=True)
