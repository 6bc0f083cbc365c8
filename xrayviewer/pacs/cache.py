"""A local cache of retrieved films, laid out STUDY/SERIES/SOP.dcm, so a study opens like a folder.

DICOM instances never change under one SOP Instance UID, so a cached file is reused as it is. The cache
holds patient data: its folders are private to the user (0700). Fetching a study never stops at one bad
instance: each problem (not an image, 404, 500, timeout, unreadable reply) becomes one line and the rest
of the study is still fetched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import pydicom
from pydicom.uid import UID

from xrayviewer.pacs.client import InstanceRef, PacsClient
from xrayviewer.pacs.errors import PacsError

log = logging.getLogger(__name__)

CACHE_ENV = "XRAYVIEWER_PACS_CACHE"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: Our own results carry this manufacturer; fetching them back for scoring would score our heat maps.
OWN_MANUFACTURER = "xrayviewer"


def default_cache_dir() -> Path:
    if value := os.environ.get(CACHE_ENV):
        return Path(value)
    return Path(platformdirs.user_cache_dir("xrayviewer", appauthor=False)) / "pacs"


def is_image_class(sop_class_uid: str) -> bool:
    """True for SOP classes holding pictures (CR, DX, SC, ...); SR, presentation states, PDFs are not."""
    name = UID(sop_class_uid).name if sop_class_uid else ""
    return "Image Storage" in name


def _safe_uid(uid: str, what: str) -> str:
    """A UID used as a file name: digits and dots only, so a hostile server cannot write outside the cache."""
    if not (0 < len(uid) <= 64 and _UID.match(uid)):
        raise PacsError(f"the PACS sent an invalid {what} UID {uid[:80]!r}", "bad_reply")
    return uid


@dataclass
class FetchResult:
    """What one study fetch produced: films on disk, and one problem line per instance that failed."""

    study_uid: str
    folder: Path
    films: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative name, message)
    skipped_own: int = 0


class StudyCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_cache_dir()

    def study_dir(self, study_uid: str) -> Path:
        return self.root / _safe_uid(study_uid, "study")

    def path_for(self, ref: InstanceRef) -> Path:
        series = _safe_uid(ref.series_uid, "series")
        return self.study_dir(ref.study_uid) / series / f"{_safe_uid(ref.sop_uid, 'SOP')}.dcm"

    def _make_dirs(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            self.root.chmod(0o700)

    def _store(self, ds: pydicom.Dataset, target: Path) -> None:
        self._make_dirs(target.parent)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
        try:
            ds.save_as(tmp, enforce_file_format=False)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def fetch_study(self, client: PacsClient, study_uid: str,
                    progress: Callable[[int, int], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> FetchResult:
        """Retrieve a study's images into the cache (reusing cached ones).

        Raises PacsError only when the study itself cannot be listed (PACS down, login refused, ...);
        a problem with one instance is recorded and the rest go on.
        """
        folder = self.study_dir(study_uid)
        result = FetchResult(study_uid=study_uid, folder=folder)
        refs = client.list_instances(study_uid)
        if not refs:
            raise PacsError(f"study {study_uid} has no instances on the PACS (or does not exist there)", "not_found")
        self._make_dirs(folder)
        for done, ref in enumerate(refs, 1):
            if cancelled is not None and cancelled():
                break
            try:
                target = self.path_for(ref)
            except PacsError as exc:
                result.problems.append((ref.label[:160], str(exc)))
                continue
            rel = target.relative_to(folder.parent).as_posix()
            if ref.sop_class_uid and not is_image_class(ref.sop_class_uid):
                result.problems.append((rel, f"not an image ({UID(ref.sop_class_uid).name}), not scored"))
            elif target.is_file():
                self._keep(target, rel, result)
            else:
                try:
                    ds = client.retrieve(ref)
                except PacsError as exc:
                    if exc.kind in ("down", "auth", "forbidden", "tls"):
                        raise  # the whole PACS is gone or refuses us: no point trying the next instance
                    result.problems.append((rel, str(exc)))
                else:
                    self._accept(ds, target, rel, result)
            if progress is not None:
                progress(done, len(refs))
        return result

    def _keep(self, target: Path, rel: str, result: FetchResult) -> None:
        try:
            header = pydicom.dcmread(target, stop_before_pixels=True)
        except Exception:  # a damaged cache file: fetch it again next time
            target.unlink(missing_ok=True)
            result.problems.append((rel, "the cached copy was damaged and has been removed; fetch again"))
            return
        if str(header.get("Manufacturer", "")) == OWN_MANUFACTURER:
            result.skipped_own += 1
            return
        result.films.append(target)

    def _accept(self, ds: pydicom.Dataset, target: Path, rel: str, result: FetchResult) -> None:
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            sop_class = ds.get("SOPClassUID")
            name = UID(str(sop_class)).name if sop_class else "no SOP class"
            result.problems.append((rel, f"not an image (no pixel data; {name}), not scored"))
            return
        if str(ds.get("Manufacturer", "")) == OWN_MANUFACTURER:
            result.skipped_own += 1  # our own heat map from an earlier run
            return
        try:
            self._store(ds, target)
        except (OSError, ValueError, TypeError) as exc:
            result.problems.append((rel, f"cannot write it to the cache {self.root}: {exc}"))
            return
        result.films.append(target)
