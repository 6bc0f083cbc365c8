"""./scripts/run-app.sh installs once, then relaunches offline; with no display it scores the samples to CSV.

The first install needs the network (and maybe apt), so it is not run here; the relaunch is, against the
fresh venv the wheel test installed (XRAYVIEWER_VENV), with pip cut off from every index and, where the
kernel allows it, in a network namespace with no network at all (`unshare -n`).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import ROOT, InstalledWheel, clean_env

pytestmark = pytest.mark.install

SCRIPT = ROOT / "scripts" / "run-app.sh"


def can_unshare_network() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    return subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30).returncode == 0


def offline_env(tmp: Path, venv: Path) -> dict[str, str]:
    """No display, the user's folders in TMP, and pip unable to reach any index if the script called it."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("PIP_") and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(XRAYVIEWER_VENV=str(venv), HOME=str(tmp / "home"), XDG_DATA_HOME=str(tmp / "data"),
               PIP_NO_INDEX="1", PIP_CONFIG_FILE="/dev/null", http_proxy="http://127.0.0.1:9",
               https_proxy="http://127.0.0.1:9")
    return env


def run_app(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(SCRIPT), *args]
    if can_unshare_network():
        cmd = ["unshare", "-n", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def mark_installed(venv: Path) -> None:
    """The stamp the script writes after a successful install: sha256 of pyproject.toml then setup.py."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "setup.py").read_bytes()).hexdigest()
    (venv / ".xrayviewer-install").write_text(digest + "\n", encoding="utf-8")


def test_check_says_when_a_run_would_install(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    env = offline_env(tmp_path, installed_wheel.venv)
    (installed_wheel.venv / ".xrayviewer-install").write_text("an older pyproject.toml\n", encoding="utf-8")
    r = run_app(env, "--check")
    assert r.returncode == 1 and "pyproject.toml or setup.py changed" in r.stdout
    mark_installed(installed_wheel.venv)
    r = run_app(env, "--check")
    assert r.returncode == 0 and "installed and current" in r.stdout
    r = run_app({**env, "XRAYVIEWER_VENV": str(tmp_path / "no-venv")}, "--check")
    assert r.returncode == 1 and "not installed" in r.stdout


def test_headless_relaunch_scores_the_samples_offline_into_the_user_data_folder(
        installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    mark_installed(installed_wheel.venv)
    in_checkout = ROOT / "samples-scores.csv"
    existed = in_checkout.exists()
    r = run_app(offline_env(tmp_path, installed_wheel.venv))
    assert r.returncode == 0, r.stderr
    assert "xrayviewer: installing" not in r.stderr
    out = tmp_path / "data" / "xrayviewer" / "samples-scores.csv"
    assert str(out) in r.stderr  # the user is told where the CSV went
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 16 and all(row["status"] == "ok" for row in rows)
    assert in_checkout.exists() == existed, "the headless run wrote into the checkout"


def test_desktop_entry_launches_the_installed_binary_offline(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    mark_installed(installed_wheel.venv)
    env = offline_env(tmp_path, installed_wheel.venv)
    r = run_app(env, "--desktop-entry")
    assert r.returncode == 0, r.stderr
    entry = (tmp_path / "data" / "applications" / "io.github.xrayviewer.desktop").read_text(encoding="utf-8")
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    exe = exec_line.removeprefix("Exec=").split('"')[1]
    assert Path(exe) == installed_wheel.exe.resolve()  # the app itself, never an installer script
    cmd = [exe, "gui", "--help"]
    if can_unshare_network():
        cmd = ["unshare", "-n", *cmd]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage" in r.stdout, r.stderr
