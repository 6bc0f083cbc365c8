"""The Ray engine: the same batch scoring, with the films spread over a Ray cluster.

Ray Data streams the list of films (paths only; each film is read where it is scored) through a pool
of actors. Each actor holds one onnxruntime session and runs the core's own
:func:`~xrayviewer.inference.scoring.score_batches` on its batches, so decoding, preprocessing, the
model, the threshold in force and the scope gate are exactly the local engine's: the driver's engine
settings (model card, site threshold, ...) and the scope gate travel to every actor, and only the
onnxruntime session is made anew there. The results come back in input order (pickled
:class:`~xrayviewer.inference.scoring.FilmResult` objects), and the driver writes the CSV, the heat maps
and the summary as for a local run.

A film that kills the process scoring it (a native decoder crash, a kill for memory) does not stall the
job: Ray Data retries a block once on the restarted actor (its default is forever), then drops it and goes
on; the films of dropped blocks are scored again each on its own, and a film that kills its process on
its own too becomes an error row (:data:`DIED`). Any other failure in an actor fails the job.

Films must be readable at the same path on every node (a shared file system, or object storage mounted
as one); the model travels with the job. Every node needs the same xrayviewer with the ``cluster`` extra.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import pickle
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrayviewer.common.vocab import Status
from xrayviewer.inference.scoring import FilmResult

log = logging.getLogger(__name__)

RAY_MISSING = "--engine ray needs Ray: pip install 'xrayviewer[cluster]'"
# "0": Ray's node address is the loopback one, as on macOS/Windows, instead of the routable address.
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

# Engine attributes that belong to one onnxruntime session and are made anew in each actor.
_SESSION_ONLY = frozenset({"session", "path", "provider", "threads"})

# How often a block, and then each of its films alone, is tried before a film that kills the process
# scoring it is given up.
TRIES = 2
DIED = (f"not scored: the process scoring this film died on every try ({TRIES} with its batch, then {TRIES} "
        "alone): a native crash, e.g. in a decoder, or killed for lack of memory; film skipped")


class ClusterError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, cannot run the job, or failed during it."""


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ClusterError(RAY_MISSING) from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray for one command; yields the ``ray`` module.

    ``address``: None starts a local Ray on this machine (bound to 127.0.0.1, no dashboard), ``auto``
    joins the cluster this node belongs to (``ray start``), ``ray://HOST:10001`` is a Ray Client
    connection. A Ray already initialised in this process is used as it is and left running.
    Ray's usage statistics are switched off unless the environment says otherwise.
    """
    if address is None:
        # A one-machine Ray on the loopback address instead of this machine's network address (read when
        # Ray is imported): nothing of it is reachable from, or talks to, the network.
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    elif not address.startswith("ray://"):
        kwargs.update(include_dashboard=False)
    where = "a local Ray" if address is None else f"the Ray cluster at {address}"
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ... by case
        raise ClusterError(f"cannot start or reach {where}: {_first_line(exc)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Plan:
    """How the actor pool is laid out on the cluster."""

    actors: int
    cpus_per_actor: int  # also the actor's decode threads
    gpus_per_actor: int
    provider: str  # what each actor's engine asks onnxruntime for

    def describe(self) -> str:
        unit = f"{self.gpus_per_actor} GPU + {self.cpus_per_actor} CPU" if self.gpus_per_actor else \
            f"{self.cpus_per_actor} CPU"
        return f"Ray, {self.actors} actor{'s' if self.actors != 1 else ''} x {unit} (provider {self.provider})"


def plan_pool(nodes: Sequence[dict[str, float]], provider: str, actors: int | None = None) -> Plan:
    """Lay the actors out over the cluster's nodes (their Ray resources).

    Without GPUs (or with ``--provider cpu``): one single-threaded actor per CPU, so every core decodes and
    scores. With GPUs (``cuda``, or ``auto`` on a cluster that has them): one actor per GPU, each taking
    its share of its node's CPUs as decoding threads (the GPU runs the model far faster than one core
    decodes films); CPU-only nodes then stay idle.
    """
    cpus = sum(int(n.get("CPU", 0)) for n in nodes)
    gpu_nodes = [n for n in nodes if int(n.get("GPU", 0)) > 0]
    gpus = sum(int(n["GPU"]) for n in gpu_nodes)
    if provider == "cuda" and gpus == 0:
        raise ClusterError("--provider cuda: the Ray cluster has no GPUs (`ray status` lists its resources)")
    if provider in ("cuda", "auto") and gpus > 0:
        share = min(max(1, int(n.get("CPU", 0)) // int(n["GPU"])) for n in gpu_nodes)
        return Plan(actors or gpus, share, 1, provider)
    return Plan(actors or max(1, cpus), 1, 0, "cpu")


def _alive_nodes(ray: Any) -> list[dict[str, float]]:
    return [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]


def engine_state(engine: Any) -> dict[str, Any]:
    """The engine's settings that the actors copy: everything but the onnxruntime session and its paths
    (model card, the threshold in force, output names, and whatever else the engine learns to carry)."""
    return {k: v for k, v in vars(engine).items()
            if k not in _SESSION_ONLY and not type(v).__module__.startswith("onnxruntime")}


@dataclass(frozen=True)
class _Failed:
    """What an actor returns for a batch when scoring raised: the job fails (a film's own failure is an
    error row, never this), instead of Ray Data dropping the block as if the actor had died."""

    message: str


class ScoreActor:
    """One Ray actor: one onnxruntime session, scoring whole batches with the core's ``score_batches``."""

    def __init__(self, model: list[Any], state: dict[str, Any], provider: str, threads: int, keep_cam: bool,
                 options: dict[str, Any]) -> None:
        import ray

        from xrayviewer.inference.engine import Engine

        warnings.filterwarnings("ignore", module=r"pydicom\b")  # a damaged film becomes its error row
        logging.getLogger("pydicom").setLevel(logging.ERROR)
        folder = Path(tempfile.mkdtemp(prefix="xrayviewer-actor-"))
        try:
            path = folder / "model.onnx"
            path.write_bytes(ray.get(model[0]))  # [ref]: the bytes are fetched once per node, not copied in
            card = state.get("card")
            if card is not None:  # a model whose card is a sidecar file, not in its metadata
                path.with_suffix(".card.json").write_text(card.to_json(), encoding="utf-8")
            self.engine = Engine(path, provider, threads=1)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        vars(self.engine).update(state)
        self.threads = threads
        self.keep_cam = keep_cam
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from xrayviewer.inference.scoring import score_batches

        paths = [Path(os.fsdecode(bytes(p))) for p in batch["path"]]
        results: list[FilmResult | _Failed] = []
        each = math.ceil(len(paths) / self.threads)
        try:
            for chunk in score_batches(paths, self.engine, batch_size=each, workers=self.threads,
                                       keep_cam=self.keep_cam, **self.options):
                results.extend(chunk)
        except Exception as exc:
            results = [_Failed(_first_line(exc))]
        out = np.empty(len(results), dtype=object)
        out[:] = [pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL) for r in results]
        return {"result": out}


@contextlib.contextmanager
def _data_context(ray: Any, *, errored_blocks: int = 0) -> Iterator[None]:
    """Ray Data settings for one job: results in input order, no progress bars, banners or tracebacks on
    stderr; ``errored_blocks`` (-1: any number) failed blocks are dropped instead of failing the job."""
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start,
             ctx.enable_auto_log_stats, ctx.max_errored_blocks)
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.max_errored_blocks = errored_blocks
    # Our settings above would be announced as warnings, and each failed block logged with its traceback:
    # a failure reaches the caller as an exception, or as the films missing from the results.
    data_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start,
         ctx.enable_auto_log_stats, ctx.max_errored_blocks) = saved
        data_log.setLevel(level)


def _path_items(paths: Sequence[Path], **columns: Sequence[Any]) -> list[dict[str, Any]]:
    """Dataset rows: absolute paths as bytes (any file name survives Arrow), plus extra columns."""
    items: list[dict[str, Any]] = [{"path": os.fsencode(os.path.abspath(p))} for p in paths]
    for name, values in columns.items():
        for item, value in zip(items, values, strict=True):
            item[name] = value
    return items


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class RayScorer:
    """A :class:`~xrayviewer.inference.batch.BatchScorer` that scores on Ray (see the module docstring).

    ``model``: the ONNX file the driver loaded (its bytes go to the actors); ``provider``: what the actors
    ask for. ``workers`` passed by :func:`~xrayviewer.inference.batch.score_rows` sets the number of
    actors (default: one per cluster CPU, or per GPU). Needs a :func:`ray_session`.
    """

    def __init__(self, model: Path, provider: str = "auto") -> None:
        self.model = Path(model)
        self.provider = provider
        self.plan: Plan | None = None
        self.scored = 0  # films whose results came back so far

    def describe(self) -> str:
        return self.plan.describe() if self.plan else "Ray"

    def __call__(self, paths: Sequence[Path], engine: Any, *, batch_size: int, workers: int | None,
                 keep_cam: bool, cancel: threading.Event | None, **options: Any) -> Iterator[list[FilmResult]]:
        paths = list(paths)
        if not paths:
            return
        ray = _import_ray()
        try:
            model = self.model.read_bytes()
        except OSError as exc:
            raise ClusterError(f"cannot read the model {self.model}: {exc.strerror or exc}") from None
        plan = plan_pool(_alive_nodes(ray), self.provider, workers)
        self.plan = plan = dataclasses.replace(plan, actors=min(plan.actors, len(paths)))
        log.info("scoring %d films on %s", len(paths), plan.describe())
        self.scored = 0
        stopped = (lambda: False) if cancel is None else cancel.is_set
        actor = {"model": [ray.put(model)], "state": engine_state(engine), "provider": plan.provider,
                 "threads": plan.cpus_per_actor, "keep_cam": keep_cam, "options": options}
        per_call = batch_size * plan.cpus_per_actor  # a batch for each of the actor's decoding threads
        # Blocks (the unit handed to an actor and streamed back): about 4 per actor for load balancing,
        # one call's worth at least, 16 at most (the CSV is appended per block that comes back).
        per_block = min(16 * per_call, max(per_call, math.ceil(len(paths) / (4 * plan.actors))))
        with _data_context(ray, errored_blocks=-1):
            lost: list[Path] = []
            yield from self._job(ray, plan, paths, actor, per_call, per_block, stopped, lost)
            if lost and not stopped():
                # The films of the dropped blocks again, each alone and one at a time per actor (a film
                # queued behind the crashing one would die with it): only the culprits are lost now.
                again, lost = lost, []
                yield from self._job(ray, plan, again, actor, 1, 1, stopped, lost, in_flight=1)
                if lost and not stopped():
                    yield [FilmResult(p, Status.ERROR, error=DIED) for p in lost]

    def _job(self, ray: Any, plan: Plan, paths: list[Path], actor: dict[str, Any], per_call: int, per_block: int,
             stopped: Callable[[], bool], lost: list[Path], in_flight: int | None = None,
             ) -> Iterator[list[FilmResult]]:
        """One Ray Data job over ``paths``: yields their results in input order, except the films of the
        blocks whose actor died on every try (Ray Data drops those blocks), which go to ``lost``."""
        ds = ray.data.from_items(_path_items(paths), override_num_blocks=math.ceil(len(paths) / per_block))
        with warnings.catch_warnings():  # max_task_retries has no named parameter (yet) in Ray Data
            warnings.filterwarnings("ignore", message=r".*ray_remote_args.* is deprecated")
            ds = ds.map_batches(
                ScoreActor,
                batch_size=per_call,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(plan.actors, len(paths)),
                                                   max_tasks_in_flight_per_actor=in_flight),
                num_cpus=plan.cpus_per_actor,
                num_gpus=plan.gpus_per_actor or None,
                fn_constructor_kwargs=actor,
                max_task_retries=TRIES - 1,  # on the restarted actor; Ray Data's default retries forever
            )
        want = [os.path.abspath(p) for p in paths]
        batches = iter(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2))
        i = 0
        try:
            while not stopped():
                try:
                    batch = next(batches, None)
                except Exception as exc:  # a Ray failure, never a film's (those are error rows)
                    raise ClusterError(f"the Ray job failed after {self.scored} films: {_first_line(exc)}") from exc
                if batch is None:
                    lost.extend(paths[i:])
                    return
                results: list[FilmResult] = []
                for r in map(pickle.loads, batch["result"]):
                    if isinstance(r, _Failed):
                        raise ClusterError(f"the Ray job failed after {self.scored} films: {r.message}")
                    while i < len(paths) and os.fspath(r.path) != want[i]:
                        lost.append(paths[i])  # in a dropped block
                        i += 1
                    if i == len(paths):
                        raise ClusterError(f"the Ray job returned results out of order at film {self.scored}")
                    r.path = paths[i]  # the driver's own Path objects: rows name films as the local engine does
                    i += 1
                    results.append(r)
                self.scored += len(results)
                yield results
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # stops the dataset: queued batches are dropped, actors released


def _check_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray task: whether each film still hashes to the sha256 its CSV row carries."""
    from xrayviewer.inference.resume import film_sha256

    same = [film_sha256(Path(os.fsdecode(bytes(p)))) == str(s) for p, s in zip(batch["path"], batch["sha"],
                                                                               strict=True)]
    return {"same": np.asarray(same, dtype=bool)}


def same_content_on_ray(items: Sequence[tuple[Path, str]]) -> list[bool]:
    """:data:`~xrayviewer.inference.resume.HashCheck` spread over the cluster (``--resume`` with Ray)."""
    if not items:
        return []
    ray = _import_ray()
    with _data_context(ray):
        ds = ray.data.from_items(_path_items([p for p, _ in items], sha=[s for _, s in items]),
                                 override_num_blocks=math.ceil(len(items) / 256))
        ds = ds.map_batches(_check_batch, batch_size=256, batch_format="numpy", num_cpus=1)
        try:
            out = [bool(x) for b in ds.iter_batches(batch_size=None, batch_format="numpy") for x in b["same"]]
        except Exception as exc:
            raise ClusterError(f"the Ray job checking the earlier rows failed: {_first_line(exc)}") from exc
    if len(out) != len(items):
        raise ClusterError(f"the Ray job checking the earlier rows returned {len(out)} of {len(items)} answers")
    return out
