"""Labelled film lists from the three layouts we meet: our manifest, a Kaggle folder tree, a metadata CSV.

No torch here: training and the evaluation report both read data through this module.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from xrayviewer.common.vocab import LABELS

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".dcm", ".dicom"}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 NORMAL, 1 PNEUMONIA
    split: str  # train | val | test
    subtype: str = ""  # normal | bacteria | virus | ""
    patient: str = ""


@dataclass
class Dataset:
    samples: list[Sample]
    description: str
    sha256: str  # of the manifest / label listing: identifies the training data
    skipped: Counter = field(default_factory=Counter)

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def summary(self) -> str:
        parts = []
        for name in ("train", "val", "test"):
            ss = self.split(name)
            if ss:
                pos = sum(s.label for s in ss)
                parts.append(f"{name}: {len(ss)} ({len(ss) - pos} NORMAL, {pos} PNEUMONIA)")
        if self.skipped:
            parts.append("skipped: " + ", ".join(f"{v} {k}" for k, v in sorted(self.skipped.items())))
        return "; ".join(parts)


def subtype_from_name(name: str, label: int) -> str:
    low = name.lower()
    if "virus" in low:
        return "virus"
    if "bacteria" in low:
        return "bacteria"
    return "normal" if label == 0 else ""


def patient_from_name(name: str) -> str:
    """`personN_...` for pneumonia films, `IM-XXXX` / `NORMAL2-IM-XXXX` for normal ones."""
    stem = Path(name).stem
    m = re.match(r"(person\d+)_", stem)
    if m:
        return m.group(1)
    m = re.match(r"((?:NORMAL2-)?IM-\d+)", stem)
    return m.group(1) if m else stem


def _sha256_lines(lines: list[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def grouped_holdout(samples: list[Sample], fraction: float = 0.10, seed: int = 42) -> list[Sample]:
    """Move whole patients from train to val, per class, until `fraction` of each class is held out."""
    out: list[Sample] = []
    by_class: dict[int, list[Sample]] = {0: [], 1: []}
    for s in samples:
        (by_class[s.label] if s.split == "train" else out).append(s)
    for _label, ss in by_class.items():
        patients = sorted({s.patient for s in ss})
        random.Random(seed).shuffle(patients)
        want = round(fraction * len(ss))
        held: set[str] = set()
        count = Counter(s.patient for s in ss)
        n = 0
        for p in patients:
            if n >= want:
                break
            held.add(p)
            n += count[p]
        out += [Sample(s.path, s.label, "val" if s.patient in held else "train", s.subtype, s.patient)
                for s in ss]
    return out


def from_manifest(path: Path) -> Dataset:
    """Our dataset's manifest.csv: `path,label,subtype,patient,split,...` relative to its folder."""
    root = path.parent
    samples: list[Sample] = []
    skipped: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row.get("label", "").strip().upper()
            split = row.get("split", "").strip().lower()
            if label not in LABELS:
                skipped["unlabelled"] += 1
                continue
            if split not in ("train", "val", "test"):
                skipped[f"split '{split}'"] += 1
                continue
            lab = LABELS.index(label)
            samples.append(Sample(root / row["path"], lab, split, row.get("subtype", "") or "",
                                  row.get("patient", "") or patient_from_name(row["path"])))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Dataset(samples, f"manifest {path}", sha, skipped)


def from_folder_tree(root: Path, val_fraction: float = 0.10, seed: int = 42) -> Dataset:
    """Kaggle layout `root/{train,val,test}/{NORMAL,PNEUMONIA}/*`.

    Kaggle's own val split has 16 films, too few to stop on: below 100 films, a patient-grouped val
    split is drawn from train instead (and the tiny one is dropped).
    """
    samples, lines = [], []
    for split in ("train", "val", "test"):
        for lab, label in enumerate(LABELS):
            folder = root / split / label
            if not folder.is_dir():
                continue
            for p in sorted(folder.rglob("*")):
                if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES and not p.name.startswith("."):
                    samples.append(Sample(p, lab, split, subtype_from_name(p.name, lab), patient_from_name(p.name)))
                    lines.append(f"{p.relative_to(root).as_posix()},{label},{split}")
    skipped: Counter[str] = Counter()
    if sum(s.split == "val" for s in samples) < 100:
        skipped["films in a too-small val split"] = sum(s.split == "val" for s in samples)
        samples = grouped_holdout([s for s in samples if s.split != "val"], val_fraction, seed)
    return Dataset(samples, f"folder tree {root}", _sha256_lines(lines), skipped)


def from_metadata_csv(path: Path, images: Path, val_fraction: float = 0.10, seed: int = 42) -> Dataset:
    """Coronahack-style CSV: `X_ray_image_name`, `Label` (Normal/Pnemonia), `Dataset_type` (TRAIN/TEST).

    Films are looked up by name anywhere under `images`; rows without a usable label or file are skipped
    and counted.
    """
    index = {p.name: p for p in images.rglob("*") if p.is_file()}
    samples: list[Sample] = []
    lines: list[str] = []
    skipped: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = (row.get("X_ray_image_name") or "").strip()
            raw = (row.get("Label") or "").strip().lower()
            lab = 0 if raw == "normal" else 1 if raw in ("pnemonia", "pneumonia") else None
            if lab is None:
                skipped["without a label"] += 1
                continue
            if name not in index:
                skipped["listed but not found"] += 1
                continue
            split = "test" if (row.get("Dataset_type") or "").strip().upper() == "TEST" else "train"
            sub = (row.get("Label_1_Virus_category") or "").strip().lower()
            subtype = "normal" if lab == 0 else ("virus" if sub == "virus" else "bacteria" if sub == "bacteria" else "")
            samples.append(Sample(index[name], lab, split, subtype, patient_from_name(name)))
            lines.append(f"{name},{LABELS[lab]},{split}")
    samples = grouped_holdout(samples, val_fraction, seed)
    return Dataset(samples, f"metadata {path}", _sha256_lines(sorted(lines)), skipped)


def load_dataset(source: Path, images: Path | None = None, seed: int = 42) -> Dataset:
    """Pick the reader by what `source` is."""
    source = Path(source)
    if source.is_dir():
        if (source / "manifest.csv").is_file():
            return from_manifest(source / "manifest.csv")
        return from_folder_tree(source, seed=seed)
    if source.suffix.lower() == ".csv":
        with source.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if "X_ray_image_name" in header:
            return from_metadata_csv(source, images or source.parent, seed=seed)
        return from_manifest(source)
    raise ValueError(f"{source}: expected a manifest.csv, a metadata CSV or a folder tree")
