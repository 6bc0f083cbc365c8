"""Build, check and write the DICOM results of many films: one SR series and one capture series per study.

Every object is checked before anything is written, and a film's SR and capture are renamed into place
together, so a failure leaves no half of a result behind.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
from pydicom.dataset import Dataset

from xrayviewer.dicomout.check import check
from xrayviewer.dicomout.finding import ScoredFilm
from xrayviewer.dicomout.sc import LONG_EDGE, build_secondary_capture, source_header
from xrayviewer.dicomout.sr import build_sr

SR_SERIES_NUMBER, SC_SERIES_NUMBER, READER_SERIES_NUMBER = 990, 991, 992


@dataclass(eq=False)
class FilmObjects:
    """One film's checked results: the datasets and the exact bytes that passed the checks."""

    film: ScoredFilm
    study_uid: str
    datasets: list[Dataset]
    encoded: list[bytes]


class ResultBuilder:
    """Makes each film's SR (and capture), allocating series per study; safe to call from several threads."""

    def __init__(self, *, capture: bool = True, dciodvfy: bool = False, long_edge: int = LONG_EDGE) -> None:
        self.capture = capture
        self.dciodvfy = dciodvfy
        self.long_edge = long_edge
        self._lock = threading.Lock()
        self._series: dict[tuple[str, int], str] = {}
        self._numbers: dict[tuple[str, int], int] = {}

    def _next(self, study_uid: str, series_number: int) -> tuple[str, int]:
        key = (study_uid, series_number)
        with self._lock:
            uid = self._series.setdefault(key, str(hd.UID()))
            self._numbers[key] = self._numbers.get(key, 0) + 1
            return uid, self._numbers[key]

    def build(self, film: ScoredFilm, source: Dataset | None = None) -> FilmObjects:
        """The film's SR and capture (reader decisions: the SR only), checked; raises DicomResultError."""
        header = source if source is not None else source_header(film.source)
        study = str(header.StudyInstanceUID)
        sr_number = READER_SERIES_NUMBER if film.observer else SR_SERIES_NUMBER
        series, number = self._next(study, sr_number)
        datasets: list[Dataset] = [build_sr(film, header, series_uid=series, series_number=sr_number,
                                            instance_number=number)]
        if self.capture and not film.observer:
            series, number = self._next(study, SC_SERIES_NUMBER)
            datasets.append(build_secondary_capture(film, header, series_uid=series, series_number=SC_SERIES_NUMBER,
                                                    instance_number=number, long_edge=self.long_edge))
        encoded = [check(ds, dciodvfy=self.dciodvfy) for ds in datasets]
        return FilmObjects(film=film, study_uid=study, datasets=datasets, encoded=encoded)


def output_names(stem: Path, objects: FilmObjects) -> list[Path]:
    """Where a film's results go: ``STEM.sr.dcm`` (``STEM.reader-sr.dcm``) and ``STEM.sc.dcm``."""
    names = []
    for ds in objects.datasets:
        kind = "sc" if "PixelData" in ds else ("reader-sr" if objects.film.observer else "sr")
        names.append(stem.with_name(f"{stem.name}.{kind}.dcm"))
    return names


def write_objects(objects: FilmObjects, stem: Path) -> list[Path]:
    """Write a film's results beside ``stem`` (its folder is created): all files appear, or none."""
    targets = output_names(stem, objects)
    stem.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        for target, data in zip(targets, objects.encoded, strict=True):
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
            temps.append(tmp)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, target in zip(temps, targets, strict=True):
            os.replace(tmp, target)
    except OSError:
        for path in temps:
            path.unlink(missing_ok=True)
        raise
    return targets
