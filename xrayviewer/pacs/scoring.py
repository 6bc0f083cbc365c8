"""``xrayviewer score --pacs``: find the studies, fetch their films into the cache, store the results back.

The scoring itself is the ordinary folder scoring run over the cache; this module only does what is
PACS-specific before (search + fetch, with one problem line per instance that cannot be scored) and
after it (STOW of each study's checked results, a study at a time, only when all of its results are
valid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrayviewer.pacs.cache import StudyCache
from xrayviewer.pacs.client import PacsClient
from xrayviewer.pacs.errors import PacsError


@dataclass
class PacsBatch:
    """The films to score (in the cache), the cache root they are relative to, and the problems met."""

    base: Path
    films: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (name relative to base, message)
    studies: list[str] = field(default_factory=list)
    skipped_own: int = 0


def fetch_for_scoring(client: PacsClient, cache: StudyCache, *, study_uid: str = "", since: str = "",
                      modalities: Sequence[str] = (), say: Callable[[str], None] | None = None) -> PacsBatch:
    """Fetch one study (``study_uid``) or every study since a date. PacsError when nothing can be fetched."""
    if study_uid:
        uids = [study_uid]
    else:
        uids = [s.study_uid for s in client.search_studies(since=since, modalities=modalities)]
        if not uids:
            raise PacsError(f"no studies on the PACS since {since}"
                            + (f" with modality {', '.join(modalities)}" if modalities else ""), "not_found")
    batch = PacsBatch(base=cache.root)
    for n, uid in enumerate(uids, 1):
        if say is not None:
            say(f"fetching study {n} of {len(uids)}: {uid}")
        try:
            fetched = cache.fetch_study(client, uid)
        except PacsError as exc:
            if exc.kind != "not_found" or len(uids) == 1:
                raise
            batch.problems.append((uid, str(exc)))
            continue
        batch.studies.append(uid)
        batch.films += fetched.films
        batch.problems += fetched.problems
        batch.skipped_own += fetched.skipped_own
    return batch


@dataclass
class StoreReport:
    stored: int = 0
    studies: int = 0
    problems: list[str] = field(default_factory=list)


def store_results(client: PacsClient, storable: dict[str, list[Any]], failed: dict[str, list[str]]) -> StoreReport:
    """STOW each study's results in one request; a study with any invalid result stores nothing."""
    report = StoreReport()
    for study, messages in sorted(failed.items()):
        report.problems.append(f"study {study}: nothing stored, {len(messages)} result(s) invalid: {messages[0]}")
    for study, objects in sorted(storable.items()):
        datasets = [ds for obj in objects for ds in obj.datasets]
        try:
            report.stored += client.store(datasets, study)
            report.studies += 1
        except PacsError as exc:
            if exc.kind in ("down", "auth", "forbidden", "tls"):
                report.problems.append(str(exc))
                break
            report.problems.append(str(exc))
    return report
