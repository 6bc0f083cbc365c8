"""Shared helpers for the review-core tests: decision factories and child Python processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xrayviewer.review import PNEUMONIA, Decision

REPO = Path(__file__).resolve().parents[2]


def film_sha(i: int | str) -> str:
    return hashlib.sha256(f"film-{i}".encode()).hexdigest()


def decision(i: int | str = 0, **overrides: object) -> Decision:
    """A plausible decision for film `i` (model says PNEUMONIA at 0.8, reviewer agrees) unless overridden."""
    values: dict[str, object] = dict(
        sha256=film_sha(i), path=f"/studies/s1/film-{i}.png", study="/studies/s1", model_id="effnet-lite0@1",
        probability=0.8, model_call=PNEUMONIA, threshold=0.5, reviewer="dr.a", decision=PNEUMONIA, note="",
    )
    values.update(overrides)
    return Decision(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_decision() -> Callable[..., Decision]:
    return decision


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "agreement-log.sqlite3"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


@pytest.fixture
def start_child() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Run code in a fresh interpreter (a second app instance); unbuffered text stdout; killed at teardown."""
    children: list[subprocess.Popen[str]] = []

    def start(code: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-u", "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=stdin, text=True, env=child_env(), cwd=REPO,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()
