"""Throughput of `xrayviewer score` against a naive pipeline, on three kinds of film, per provider. Not a test.

    python bench/bench_score.py                      # the bundled model, on every provider available
    python bench/bench_score.py --provider cpu       # one provider only (cpu, cuda, or auto)
    python bench/bench_score.py --model other.onnx
    python bench/bench_score.py --tiny --n224 200    # the tiny test model (needs `onnx`): checks the plumbing

"Every provider available" is CPU, plus CUDA when this onnxruntime has it (onnxruntime-gpu: see the README's
GPU section); each gets its own rows, so the films/s of CPU and GPU can be compared on the same films.

Each kind of film is generated into a temporary folder first (so both pipelines read from a warm page
cache), then scored by

* **xrayviewer score**: the real CLI, in process (`xrayviewer.cli.main`), writing its CSV: threaded
  decoding with reduced-resolution decodes, batched inference;
* **naive**: one film at a time, full-resolution Pillow/pydicom decode, the same preprocessing, batch-1
  inference, on the same engine settings.

"cores" is process CPU time over wall time: about 2.0 means two cores kept busy. On a shared machine
films/s moves with the load average (printed); CPU ms per film barely does, so compare that there.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from xrayviewer.paths import default_model_path, samples_dir  # noqa: E402

DATASET = Path(os.environ.get("XRAYVIEWER_DATASET", "/work/shared/datasets/pediatric-cxr"))


# --- film generation ------------------------------------------------------------------------------


def make_224_copies(dst: Path, n: int) -> int:
    """The dataset's 224x224 squashed JPEG copies (manifest `source == 224px-copy`), both classes."""
    manifest = DATASET / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"bench: {manifest} not found; set XRAYVIEWER_DATASET or pass --n224 0")
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = [r["path"] for r in csv.DictReader(fh) if r["source"] == "224px-copy"]
    step = max(1, len(rows) // max(n, 1))
    chosen = rows[::step][:n]  # spread over the sorted list, so both classes come in
    for rel in chosen:
        shutil.copyfile(DATASET / rel, dst / rel.replace("/", "__"))
    return len(chosen)


def _sample_images() -> list[Image.Image]:
    images = []
    for p in sorted(samples_dir().glob("*.jpeg")):
        with Image.open(p) as im:
            images.append(im.convert("L"))
    if not images:
        raise SystemExit(f"bench: no sample films in {samples_dir()}")
    return images


def make_big_jpegs(dst: Path, n: int, size: tuple[int, int] = (2000, 1600)) -> int:
    """Sample films upscaled to 2000x1600, JPEG quality 90 (like a modern CR export)."""
    encoded = []
    for im in _sample_images():
        buf = io.BytesIO()
        im.resize(size, Image.Resampling.BICUBIC).save(buf, format="JPEG", quality=90)
        encoded.append(buf.getvalue())
    for i in range(n):
        (dst / f"film{i:04d}.jpg").write_bytes(encoded[i % len(encoded)])
    return n


def make_dicoms(dst: Path, n: int, size: int = 2000) -> int:
    """2000x2000 12-bit-in-16 MONOCHROME2 DICOMs, uncompressed explicit VR little endian."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    cr_storage = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
    encoded = []
    for k, im in enumerate(_sample_images()[:4]):
        pixels = (np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), np.uint16) * 16).astype("<u2")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = cr_storage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = cr_storage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CR"
        ds.PatientID = f"BENCH{k}"
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.PixelData = pixels.tobytes()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        encoded.append(buf.getvalue())
    for i in range(n):
        (dst / f"film{i:04d}.dcm").write_bytes(encoded[i % len(encoded)])
    return n


# --- the two pipelines ----------------------------------------------------------------------------


@dataclass
class Timing:
    films: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.films / self.wall if self.wall > 0 else float("inf")

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.films if self.films else 0.0

    @property
    def cores(self) -> float:
        return self.cpu / self.wall if self.wall > 0 else 0.0


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def timed(fn: Callable[[], int]) -> Timing:
    c0, t0 = _cpu(), time.perf_counter()
    n = fn()
    return Timing(n, time.perf_counter() - t0, _cpu() - c0)


def run_cli(folder: Path, model: Path, provider: str, args: argparse.Namespace, out_csv: Path) -> int:
    from xrayviewer.cli import main

    argv = ["score", str(folder), "--csv", str(out_csv), "--model", str(model), "-q",
            "--provider", provider, "--batch-size", str(args.batch_size)]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    code = main(argv)
    if code != 0:
        raise SystemExit(f"bench: xrayviewer score exited {code} on {folder}")
    with out_csv.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh) - 1


def run_naive(folder: Path, model: Path, provider: str) -> int:
    import pydicom

    from xrayviewer.inference.engine import Engine
    from xrayviewer.inference.preprocess import preprocess

    engine = Engine(model, provider)
    n = 0
    for path in sorted(folder.iterdir()):
        if path.suffix == ".dcm":
            pixels = pydicom.dcmread(path).pixel_array
        else:
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("L"))
        engine.run(preprocess(pixels, engine.input_size)[None])
        n += 1
    return n


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="ONNX model (default: the bundled model)")
    p.add_argument("--tiny", action="store_true", help="use the tiny test model (plumbing check only)")
    p.add_argument("--n224", type=int, default=600, help="224-px dataset copies (600)")
    p.add_argument("--njpeg", type=int, default=200, help="2000x1600 JPEGs (200)")
    p.add_argument("--ndicom", type=int, default=100, help="2000x2000 16-bit DICOMs (100)")
    p.add_argument("--provider", choices=("all", "auto", "cpu", "cuda"), default="all",
                   help="onnxruntime provider; all (default): CPU, and CUDA when available")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=None, help="decode threads (default: the CLI's)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive pipeline")
    p.add_argument("--workdir", type=Path, help="generate films here and keep them (default: a temp dir)")
    return p.parse_args(argv)


def providers_to_run(choice: str) -> list[str]:
    """The --provider values to bench: for "all", cpu plus cuda when this onnxruntime offers CUDA."""
    if choice != "all":
        return [choice]
    import onnxruntime as ort

    return ["cpu", *(["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="xrayviewer-bench-")) if args.workdir is None else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.tiny:
            from tests.helpers.tiny_model import build_tiny_model

            model = build_tiny_model(work / "tiny.onnx", size=64)
        else:
            model = args.model or default_model_path()
            if not model.is_file():
                print(f"bench: no model at {model} (the bundled model is not installed yet); "
                      "pass --model PATH, or --tiny to check the plumbing", file=sys.stderr)
                return 2

        import onnxruntime as ort

        from xrayviewer.inference.engine import Engine, ModelError

        print(f"onnxruntime {ort.__version__} ({ort.get_device()}), providers here: "
              f"{', '.join(ort.get_available_providers())}")
        engines = {}
        for provider in providers_to_run(args.provider):
            try:  # says what "auto" resolves to; a CUDA that cannot start is reported, not benched
                engine = Engine(model, provider)
            except ModelError as exc:
                print(f"--provider {provider}: {exc}", file=sys.stderr)
                continue
            engines[provider] = engine.provider
            print(f"model {engine.card.id} ({model.name}), input {engine.input_size} px, --provider {provider} -> "
                  f"{engine.provider}; {os.cpu_count()} CPUs, load average "
                  + " ".join(f"{x:.1f}" for x in os.getloadavg())
                  + f"; batch {args.batch_size}, workers {args.workers or 'default'}")
            del engine
        providers = list(engines)
        if not providers:
            return 2
        # Warm-up, untimed: the first CLI call pays one-off imports (onnxruntime, pydicom, tqdm) and, on CUDA,
        # the device set-up that the naive loop, run after it, would otherwise get for free.
        warm = work / "warmup"
        warm.mkdir(exist_ok=True)
        for p in sorted(samples_dir().glob("*.jpeg"))[:2]:
            shutil.copyfile(p, warm / p.name)
        for provider in providers:
            run_cli(warm, model, provider, args, work / "warmup.csv")
            run_naive(warm, model, provider)

        kinds = [
            ("224-px JPEG copies (dataset)", "a224", args.n224, make_224_copies),
            ("2000x1600 JPEG q90", "jpeg2000", args.njpeg, make_big_jpegs),
            ("2000x2000 16-bit DICOM", "dicom2000", args.ndicom, make_dicoms),
        ]
        rows = []
        for label, sub, n, make in kinds:
            if n <= 0:
                continue
            folder = work / sub
            if not folder.is_dir() or sum(1 for _ in folder.iterdir()) != n:
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                t0 = time.perf_counter()
                n = make(folder, n)
                print(f"  generated {n} x {label} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            for provider in providers:
                for p in folder.iterdir():  # warm the page cache for both pipelines alike
                    p.read_bytes()
                ours = timed(lambda f=folder, pr=provider: run_cli(f, model, pr, args, work / f"{f.name}.csv"))
                naive = None if args.no_naive else timed(lambda f=folder, pr=provider: run_naive(f, model, pr))
                rows.append((label, engines[provider], ours, naive))

        head = (f"{'films':<30} {'provider':<8} {'n':>5} | {'score films/s':>13} {'cores':>5} {'CPU ms/film':>11} | "
                f"{'naive films/s':>13} {'cores':>5} {'CPU ms/film':>11} | {'speed-up':>8} {'CPU saved':>9}")
        print(head)
        print("-" * len(head))
        for label, provider, ours, naive in rows:
            line = (f"{label:<30} {provider:<8} {ours.films:>5} | {ours.rate:>13.1f} {ours.cores:>5.1f} "
                    f"{ours.cpu_ms:>11.1f}")
            if naive is not None:
                line += (f" | {naive.rate:>13.1f} {naive.cores:>5.1f} {naive.cpu_ms:>11.1f} | "
                         f"{ours.rate / naive.rate:>7.1f}x {1 - ours.cpu_ms / naive.cpu_ms:>8.0%}")
            print(line)
        print("speed-up: wall-clock films/s ratio; CPU saved: CPU time per film, which a busy machine "
              "does not distort")
        return 0
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
