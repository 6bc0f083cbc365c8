"""A reader's decisions as DICOM SRs (``xrayviewer review export --dicom-out DIR``).

Each latest decision becomes one SR naming the reader (person observer), their call, the model's call and
probability it was made against, and their note. The film must still be where it was read and unchanged
(same sha256): a result must reference the exact image the reader saw.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrayviewer.dicomout.errors import DicomResultError
from xrayviewer.dicomout.finding import PREDICTIONS, ScoredFilm
from xrayviewer.dicomout.results import ResultBuilder, write_objects

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ReaderExport:
    written: list[Path] = field(default_factory=list)
    not_dicom: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (film, why no SR)


def _film_path(decision: Any) -> Path:
    path = Path(decision.path)
    return path if path.is_absolute() else Path(decision.study) / path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stem(out_dir: Path, decision: Any, film: Path) -> Path:
    """``OUT/<study folder name>/<film path in the study>.<reviewer>`` (the writer adds ``.reader-sr.dcm``)."""
    study = Path(decision.study)
    try:
        rel = film.relative_to(study)
    except ValueError:
        rel = Path(film.name)
    reviewer = _UNSAFE.sub("_", decision.reviewer).strip("._") or "reader"
    return out_dir / (_UNSAFE.sub("_", study.name) or "study") / rel.parent / f"{rel.name}.{reviewer}"


def export_decisions(decisions: Iterable[Any], out_dir: Path, builder: ResultBuilder | None = None) -> ReaderExport:
    """Write one reader SR per decision (LoggedDecision-like objects); one problem line per film that has none."""
    builder = builder or ResultBuilder(capture=False)
    report = ReaderExport()
    for d in decisions:
        film = _film_path(d)
        label = str(d.path)
        try:
            if not film.is_file():
                raise DicomResultError("the film is no longer there")
            if d.sha256 and _sha256(film) != d.sha256:
                raise DicomResultError("the film changed since it was read")
            model_call = str(d.model_call) if str(d.model_call) in PREDICTIONS else ""
            finding = ScoredFilm(
                source=film, prediction=str(d.decision), threshold=float(d.threshold), model_id=str(d.model_id),
                probability=d.probability, observer=str(d.reviewer), model_prediction=model_call,
                note=str(d.note or ""), scope_reason=str(getattr(d, "scope_reason", "") or ""),
            )
            objects = builder.build(finding)
            report.written += write_objects(objects, _stem(out_dir, d, film))
        except DicomResultError as exc:
            if str(exc).startswith("not a readable DICOM"):
                report.not_dicom += 1
            else:
                report.problems.append((label, str(exc)))
        except OSError as exc:
            report.problems.append((label, f"cannot write its SR: {exc.strerror or exc}"))
    return report
