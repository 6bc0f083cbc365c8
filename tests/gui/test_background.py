"""The GUI's one background mechanism: results reach the GUI thread, and scoring threads step aside for it."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import pytest

from tests.gui.conftest import WAIT_MS
from xrayviewer.gui.background import Background, call_lowered, lower_this_thread

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def lower_than_now(step: int) -> int:
    """A nice value `step` above this thread's (Linux stops at 19: a suite run under nice 15 has room for 4)."""
    base = nice_of_this_thread()
    if base + 1 > 19:
        pytest.skip("this thread already runs at the lowest priority")
    return min(19, base + step)


def nice_here_and_in_a_child() -> tuple[int, int]:
    """This thread's nice value and that of a thread it starts (a library's pool made here gets the latter)."""
    child: list[int] = []
    thread = threading.Thread(target=lambda: child.append(nice_of_this_thread()))
    thread.start()
    thread.join()
    return nice_of_this_thread(), child[0]


def run_and_wait(qtbot: Any, pool: Background, fn: Any) -> Any:
    got: list[Any] = []
    job = pool.run(fn, on_done=got.append)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        pass
    return got[0]


@linux_only
def test_a_lowered_pool_runs_its_work_and_what_it_starts_at_lower_priority(qtbot: Any) -> None:
    base, target = nice_of_this_thread(), lower_than_now(5)
    lowered = Background(threads=1, niceness=target)
    assert run_and_wait(qtbot, lowered, nice_here_and_in_a_child) == (target, target)
    plain = Background(threads=1)
    assert run_and_wait(qtbot, plain, nice_here_and_in_a_child) == (base, base)
    assert nice_of_this_thread() == base  # the GUI thread itself is never touched
    lowered.wait()
    plain.wait()


@linux_only
def test_call_lowered_returns_and_raises_like_a_plain_call() -> None:
    base, target = nice_of_this_thread(), lower_than_now(3)
    assert call_lowered(nice_here_and_in_a_child, target) == (target, target)
    assert nice_of_this_thread() == base

    def broken() -> None:
        raise ValueError("model file is corrupt")

    with pytest.raises(ValueError, match="corrupt"):
        call_lowered(broken, target)


@linux_only
def test_lowering_never_raises_the_priority() -> None:
    base, target = nice_of_this_thread(), lower_than_now(4)
    results: list[int] = []

    def work() -> None:
        lower_this_thread(target)
        lower_this_thread(base)  # asking for less is ignored: a thread only ever steps further aside
        lower_this_thread(0)
        results.append(nice_of_this_thread())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert results == [target]


def test_errors_reach_the_gui_thread_as_messages(qtbot: Any) -> None:
    pool = Background(threads=1)
    errors: list[str] = []

    def fail() -> None:
        raise OSError("disk gone")

    job = pool.run(fail, on_error=errors.append)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        pass
    assert errors == ["disk gone"] and job.done and not pool.busy()
