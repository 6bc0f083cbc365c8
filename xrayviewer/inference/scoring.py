"""Score many films: worker threads decode and run whole batches side by side; results stream in order.

Shared by the CLI (through :mod:`.batch`), the GUI's scoring worker and the evaluation report. Decoding
(Pillow, pydicom) and onnxruntime both release the GIL, so a small thread pool keeps the cores busy without
the cost of processes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xrayviewer.common.vocab import Status
from xrayviewer.films import Film, FilmError, load_film
from xrayviewer.inference.engine import Engine
from xrayviewer.inference.preprocess import preprocess
from xrayviewer.scope import OUT_OF_SCOPE, Scope, ScopeGate

log = logging.getLogger(__name__)


@dataclass
class FilmResult:
    path: Path
    status: Status  # OK or ERROR
    error: str = ""
    sha256: str = ""
    probability: float = float("nan")
    prediction: str = ""
    threshold: float = float("nan")
    borderline: bool = False  # the call sits inside the card's borderline band around the threshold
    cam: np.ndarray | None = None  # [h, w] logit map, kept when asked for
    notes: list[str] = field(default_factory=list)
    original_size: tuple[int, int] | None = None
    scope: Scope | None = None  # the scope gate's verdict (None: scored without a gate)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def out_of_scope(self) -> bool:
        """Refused by the scope gate: status ok, prediction OUT_OF_SCOPE, no probability, no heat map."""
        return self.prediction == OUT_OF_SCOPE


@dataclass
class _Decoded:
    path: Path
    image: np.ndarray | None
    film: Film | None
    error: str = ""
    sha256: str = ""
    scope: Scope | None = None  # header rules and image checks, when scored with a gate


# Below this a file is an icon or a placeholder, not a radiograph; scoring it would be meaningless.
MIN_FILM_EDGE = 32


def _decode(path: Path, size: int, gate: ScopeGate | None = None) -> _Decoded:
    try:
        film = load_film(path, min_size=size, header_check=gate.header_check if gate else None)
    except FilmError as exc:
        return _Decoded(path, None, None, str(exc), getattr(exc, "sha256", None) or "")
    # Keep the film's metadata but not its pixels: look-ahead holds many decoded films, and a 2000 x 2000
    # DICOM is 16 MB as float32, while the model needs only the small preprocessed image.
    header = dataclasses.replace(film, pixels=np.empty((0, 0), film.pixels.dtype), modality=None)
    if gate is not None and not film.decoded:  # its DICOM header already put it out of scope
        return _Decoded(path, None, header, sha256=film.sha256, scope=gate.check_film(film))
    h, w = film.pixels.shape[:2]
    if min(h, w) < MIN_FILM_EDGE:
        return _Decoded(path, None, None, f"image too small to be a chest film: {w} x {h} px", film.sha256)
    scope = gate.check_film(film) if gate is not None else None
    if gate is not None and scope is not None and gate.withholds(scope):
        return _Decoded(path, None, header, sha256=film.sha256, scope=scope)  # no model call
    try:
        image = preprocess(film.pixels, size)
    except (ValueError, MemoryError) as exc:
        return _Decoded(path, None, None, f"cannot prepare film for the model: {exc}", film.sha256)
    return _Decoded(path, image, header, sha256=film.sha256, scope=scope)


def _guarded(decoder: Callable[[Path, int], _Decoded], path: Path, size: int) -> _Decoded:
    """Run a decoder; an unexpected exception (a decoder bug on one odd file) becomes that film's error."""
    try:
        return decoder(path, size)
    except Exception as exc:
        log.debug("unexpected error decoding %s", path, exc_info=True)
        message = f"unexpected error while reading the film: {type(exc).__name__}: {exc}"
        return _Decoded(path, None, None, message)


def default_workers() -> int:
    """One worker per CPU core this process may use (cgroup/affinity aware), at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def score_films(
    paths: Iterable[Path],
    engine: Engine,
    *,
    batch_size: int = 16,
    workers: int | None = None,
    keep_cam: bool = False,
    cancel: threading.Event | None = None,
    decoder: Callable[[Path, int], _Decoded] = _decode,
    gate: ScopeGate | None = None,
) -> Iterator[FilmResult]:
    """Yield one FilmResult per path, in input order (:func:`score_batches`, one film at a time)."""
    batches = score_batches(paths, engine, batch_size=batch_size, workers=workers, keep_cam=keep_cam,
                            cancel=cancel, decoder=decoder, gate=gate)
    try:
        for batch in batches:
            yield from batch
    finally:
        batches.close()  # closing this generator stops the workers at once


def score_batches(
    paths: Iterable[Path],
    engine: Engine,
    *,
    batch_size: int = 16,
    workers: int | None = None,
    keep_cam: bool = False,
    cancel: threading.Event | None = None,
    decoder: Callable[[Path, int], _Decoded] = _decode,
    gate: ScopeGate | None = None,
) -> Generator[list[FilmResult], None, None]:
    """Yield the FilmResults of each batch, batches in input order (one result per path in all).

    Unreadable films yield an ``error`` result and never stop the run. Setting ``cancel`` stops after
    the batch in flight.

    With a ``gate`` every result carries its ``scope``: films the DICOM header or the image checks refuse
    never reach the model, films the OOD detector refuses lose the model's call (prediction
    OUT_OF_SCOPE, no probability, no CAM). A custom ``decoder`` skips the image checks (header rules and
    the OOD detector still apply).

    Each worker thread takes a whole batch: decodes its films, then runs the model on them. With a
    single-threaded engine (``Engine(threads=1)``, as the CLI makes) the workers' inferences run side by
    side, so N workers keep N cores busy with exactly N runnable threads, whatever the mix of decoding and
    inference; a multi-threaded engine gets ``workers // engine.threads`` concurrent runs instead, so
    decoding and onnxruntime's own threads never oversubscribe the cores. (Measured on 2 shared cores:
    decode threads beside a 2-thread spinning onnxruntime pool were 1.3-2x slower than this.)
    """
    paths = list(paths)
    if not paths:
        return
    size = engine.input_size
    threshold = getattr(engine, "threshold", engine.card.threshold)  # a site threshold, else the card's
    workers = workers or default_workers()
    # Small jobs are split so that every worker gets a batch: 16 films on 2 cores -> 2 batches of 8.
    chunk = max(1, min(batch_size, math.ceil(len(paths) / workers)))
    batches = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    runs = threading.BoundedSemaphore(max(1, workers // max(1, getattr(engine, "threads", 1))))
    if gate is not None and decoder is _decode:
        decoder = functools.partial(_decode, gate=gate)

    def work(batch: list[Path]) -> list[FilmResult] | None:
        decoded = []
        for p in batch:
            if cancel is not None and cancel.is_set():
                return None
            decoded.append(_guarded(decoder, p, size))
        with runs:
            return _infer(decoded, engine, threshold, keep_cam, gate)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="score")
    try:
        # Bounded look-ahead: at most two batches per worker are queued or running, so memory stays flat.
        pending: deque[Future[list[FilmResult] | None]] = deque()
        todo = iter(batches)

        def top_up() -> None:
            while len(pending) < 2 * workers and (batch := next(todo, None)) is not None:
                pending.append(pool.submit(work, batch))

        top_up()
        while pending:
            if cancel is not None and cancel.is_set():
                return
            results = pending.popleft().result()
            if results is None:  # cancelled mid-batch
                return
            top_up()
            yield results
    finally:
        # Also reached when the consumer stops early (generator closed, Ctrl-C): drop queued batches
        # instead of finishing them; only the ones already running are waited for.
        pool.shutdown(wait=True, cancel_futures=True)


def _infer(batch: list[_Decoded], engine: Engine, threshold: float, keep_cam: bool,
           gate: ScopeGate | None = None) -> list[FilmResult]:
    if gate is not None:  # a custom decoder gave no verdict: the header rules still apply
        for d in batch:
            if d.scope is None and d.film is not None:
                d.scope = gate.check_film(d.film)
    good = [d for d in batch if d.image is not None and not (gate and d.scope and gate.withholds(d.scope))]
    probs: dict[int, tuple[float, np.ndarray, np.ndarray | None]] = {}
    if good:
        pred = engine.run(np.stack([d.image for d in good if d.image is not None]))
        embeddings = getattr(pred, "embedding", None)
        for i, (d, p, c) in enumerate(zip(good, pred.probability, pred.cam, strict=True)):
            probs[id(d)] = (float(p), c, embeddings[i] if embeddings is not None else None)
    results = []
    for d in batch:
        film = d.film
        if id(d) not in probs:
            if gate is not None and d.scope is not None and gate.withholds(d.scope):
                results.append(_refused(d, gate.final(d.scope), threshold))
            else:
                results.append(FilmResult(d.path, Status.ERROR, error=d.error, sha256=d.sha256))
            continue
        p, c, emb = probs[id(d)]
        scope = d.scope
        if gate is not None:
            scope = gate.check_embedding(scope or Scope(), emb)
            if gate.withholds(scope):
                results.append(_refused(d, scope, threshold))
                continue
            scope = gate.final(scope)
        results.append(
            FilmResult(
                d.path,
                Status.OK,
                sha256=d.sha256,
                probability=p,
                prediction=engine.card.call(p, threshold),
                threshold=threshold,
                borderline=engine.card.is_borderline(p, threshold),
                cam=c if keep_cam else None,
                notes=list(film.notes) if film else [],
                original_size=film.original_size if film else None,
                scope=scope,
            )
        )
    return results


def _refused(d: _Decoded, scope: Scope, threshold: float) -> FilmResult:
    """An out-of-scope film: read fine (status ok), but the model's call is withheld."""
    film = d.film
    return FilmResult(d.path, Status.OK, sha256=d.sha256, prediction=OUT_OF_SCOPE, threshold=threshold,
                      notes=list(film.notes) if film else [], original_size=film.original_size if film else None,
                      scope=scope)
