"""``python -m tests.cluster.crashing FILM score-args...``: ``xrayviewer score`` on the Ray engine with a
decoder that kills the actor process (a native crash: SIGSEGV) when it reaches the film named FILM.

Run in a subprocess by ``test_ray_crash.py``, so that a job that stalls is ended by the test's timeout.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xrayviewer.inference.scoring import _decode


@dataclass(frozen=True)
class CrashOn:
    """A decoder that crashes its process on the film named ``name`` and decodes the others as the engine
    does (with the scope gate's image checks)."""

    name: str
    gate: Any = None

    def __call__(self, path: Path, size: int) -> Any:
        if path.name == self.name:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
            os.kill(os.getpid(), signal.SIGSEGV)
        return _decode(path, size, gate=self.gate)


def main(argv: list[str]) -> int:
    from xrayviewer.cli import main as cli
    from xrayviewer.cluster import ray_engine

    name, *args = argv

    class CrashingScorer(ray_engine.RayScorer):
        def __call__(self, paths: Any, engine: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return super().__call__(paths, engine, decoder=CrashOn(name, kwargs.get("gate")), **kwargs)

    ray_engine.RayScorer = CrashingScorer  # type: ignore[misc]  # what `score --engine ray` uses
    return cli(["score", *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
