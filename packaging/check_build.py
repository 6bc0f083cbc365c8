"""Smoke-test the PyInstaller build in dist/xrayviewer/ (or an unpacked release archive) as a user would.

Run after packaging/build.sh (packaging/check_build.sh runs this with the project venv):

    packaging/check_build.sh                                  # dist/xrayviewer/
    packaging/check_build.sh --dist /opt/xrayviewer-0.1.0-linux-x86_64     # an unpacked archive
    packaging/check_build.sh --archive dist/xrayviewer-0.1.0-linux-x86_64.tar.gz   # checksum, unpack, check

It proves: an archive matches dist/SHA256SUMS and every unpacked file its SHA256SUMS (none missing,
none extra); the binary starts; `score` on the bundle's own sample study writes 16 good rows; DICOMs in
JPEG 2000, RLE, HTJ2K and JPEG Lossless transfer syntaxes decode (the last two have no decoder but
pylibjpeg's openjpeg and libjpeg plugins, so this shows they are found at runtime, entry points included);
the GUI starts offscreen and stays up; the bundle holds no torch/sklearn/onnx; and, with strace
installed, the frozen scorer opens no network connection.

Everything it writes goes to a temp folder (XDG_* dirs included), never the user's real settings/logs.
Exit 0 when every check passes. Needs numpy, pillow, pydicom (+ onnx if no model is bundled).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_SAMPLES = 16
# Python packages that must not be in the bundle (the runtime never needs them).
FORBIDDEN = ("torch", "torchvision", "sklearn", "scipy", "onnx", "onnxscript")
# pydicom decoder plugins: import name -> dist-info prefix whose entry_points.txt pylibjpeg reads.
PLUGINS = {"libjpeg": "pylibjpeg_libjpeg-", "openjpeg": "pylibjpeg_openjpeg-", "rle": "pylibjpeg_rle-"}


# Binding the loopback address reaches no network: urllib3 (imported by pydicom whenever requests is bundled)
# probes IPv6 support at import time by binding ::1. Same rule as tests/test_no_network.py.
LOOPBACK_BIND = re.compile(r'\bbind\(.*(inet_pton\(AF_INET6, "::1"|inet_addr\("127\.0\.0\.1"\))')


class CheckFailed(Exception):
    pass


def check(results: list[tuple[str, bool, str]], name: str, fn: Callable[[], str]) -> None:
    """Run one check, print PASS/FAIL with its timing and record it."""
    t0 = time.perf_counter()
    try:
        detail, ok = fn(), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    line = f"{'PASS' if ok else 'FAIL'} {name}: {detail} [{time.perf_counter() - t0:.1f} s]"
    results.append((name, ok, line))
    print(line, flush=True)


def sh(cmd: list[str], env: dict[str, str], timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def check_csv(path: Path, expected: int) -> str:
    """Every row ok with a probability in [0, 1]; returns a one-line summary."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != expected:
        raise CheckFailed(f"{path.name}: {len(rows)} rows, expected {expected}")
    bad = [r for r in rows if r["status"] != "ok" or not 0.0 <= float(r["pneumonia_probability"] or "nan") <= 1.0]
    if bad:
        raise CheckFailed(f"{len(bad)} bad rows, e.g. {bad[0]}")
    probs = [float(r["pneumonia_probability"]) for r in rows]
    return f"{len(rows)} rows ok, p in [{min(probs):.3f}, {max(probs):.3f}], model {rows[0]['model_id']}"


def jpeg_lossless_sv1(image: np.ndarray, precision: int) -> bytes:
    """A 2-D unsigned image as a JPEG Lossless SV1 codestream (ITU T.81 Annex H: process 14, predictor 1).

    Most CR/DX modalities send this syntax and only pylibjpeg-libjpeg decodes it here, but none of our
    dependencies encodes it: hence this minimal encoder (one component, one Huffman table giving every
    difference category a 5-bit code).
    """
    rows, cols = image.shape
    x = image.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]  # first row: the left neighbour
    pred[1:, 0] = x[:-1, 0]  # first column: the one above
    pred[1:, 1:] = x[1:, :-1]  # elsewhere: predictor 1, the left neighbour
    diff = (x - pred + 32768) % 65536 - 32768  # differences are modulo 2**16
    out = bytearray()
    acc = nbits = 0

    def flush(byte: int) -> None:
        out.append(byte)
        if byte == 0xFF:
            out.append(0)  # byte stuffing

    for d in diff.ravel().tolist():
        ssss = 16 if d == -32768 else abs(d).bit_length()
        acc, nbits = (acc << 5) | ssss, nbits + 5
        if 0 < ssss < 16:
            acc, nbits = (acc << ssss) | ((d if d >= 0 else d - 1) & ((1 << ssss) - 1)), nbits + ssss
        while nbits >= 8:
            nbits -= 8
            flush((acc >> nbits) & 0xFF)
        acc &= (1 << nbits) - 1
    if nbits:
        flush(((acc << (8 - nbits)) | ((1 << (8 - nbits)) - 1)) & 0xFF)  # pad with 1-bits

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    sof3 = bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    dht = bytes([0x00]) + bytes(4) + bytes([17]) + bytes(11) + bytes(range(17))  # 17 codes of length 5
    sos = bytes([1, 1, 0x00, 1, 0, 0])  # one component, table 0, Ss=predictor 1, Se=0, Ah/Al=0
    return b"\xff\xd8" + segment(0xC3, sof3) + segment(0xC4, dht) + segment(0xDA, sos) + bytes(out) + b"\xff\xd9"


def make_dicoms(folder: Path, samples: Path) -> list[str]:
    """12-bit CR DICOMs of a sample film in compressed transfer syntaxes; returns what was made.

    JPEG Lossless SV1 and HTJ2K have no decoder but pylibjpeg's libjpeg and openjpeg plugins (JPEG 2000
    and RLE also have Pillow's and pydicom's own), so scoring them proves the plugins are found at runtime.
    The HTJ2K file carries a Part 1 codestream, which the HTJ2K syntax 1.2.840.10008.1.2.4.203 allows.
    """
    from PIL import Image
    from pydicom import uid
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate

    src = sorted(samples.glob("*.jpeg"))[0]
    with Image.open(src) as im:
        gray = np.asarray(im.convert("L").resize((384, 320)), dtype=np.uint16) << 4  # 12-bit

    def dataset() -> Dataset:
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography
        ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
        ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality = "CR"
        ds.PatientName = "Check^Build"
        ds.Rows, ds.Columns = gray.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = gray.tobytes()
        return ds

    made = []
    for name, syntax, label in (("j2k", uid.JPEG2000Lossless, None), ("rle", uid.RLELossless, None),
                                ("htj2k", uid.JPEG2000Lossless, uid.HTJ2K),
                                ("jpegls", uid.JPEGLSLossless, None)):
        ds = dataset()
        try:
            ds.compress(syntax, gray)
        except (RuntimeError, NotImplementedError, ImportError) as exc:
            print(f"note: no {syntax.name} DICOM (no encoder here: {str(exc).splitlines()[0]})", flush=True)
            continue
        if label is not None:
            ds.file_meta.TransferSyntaxUID = label
        ds.save_as(folder / f"check-{name}.dcm", enforce_file_format=True)
        made.append((label or syntax).name)

    ds = dataset()
    ds.file_meta.TransferSyntaxUID = uid.JPEGLosslessSV1
    ds.PixelData = encapsulate([jpeg_lossless_sv1(gray, 12)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(folder / "check-jpeg-lossless.dcm", enforce_file_format=True)
    made.append(uid.JPEGLosslessSV1.name)
    return made


def _datafiles():
    """packaging/datafiles.py (what a build from this checkout must hold), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("xrayviewer_datafiles", Path(__file__).with_name("datafiles.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(path: Path) -> dict[str, str]:
    """`sha256sum` output (HASH, two spaces or ' *', NAME) -> {name: hash}."""
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line[:64], line[66:]
            sums[name] = digest.lower()
    return sums


def verify_sums(folder: Path) -> str:
    """Every file listed in FOLDER/SHA256SUMS has that hash, and every file in FOLDER is listed."""
    sums = read_sums(folder / "SHA256SUMS")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}
    present.discard("SHA256SUMS")
    missing, extra = sorted(set(sums) - present), sorted(present - set(sums))
    bad = [name for name in sorted(set(sums) & present) if sha256_file(folder / name) != sums[name]]
    if missing or extra or bad:
        raise CheckFailed(f"missing {missing[:5]}, not listed {extra[:5]}, changed {bad[:5]}")
    return f"{len(sums)} files, all match"


def unpack_archive(archive: Path, dest: Path, results: list[tuple[str, bool, str]]) -> Path:
    """Check the archive against the SHA256SUMS beside it, unpack it into DEST, return its one folder."""
    if not archive.is_file():
        raise CheckFailed(f"no such archive: {archive}")

    def checksum() -> str:
        sums_file = archive.with_name("SHA256SUMS")
        if not sums_file.is_file():
            return f"no SHA256SUMS beside {archive.name}: checksum not checked"
        expected = read_sums(sums_file).get(archive.name)
        if expected is None:
            raise CheckFailed(f"{sums_file} has no line for {archive.name}")
        if sha256_file(archive) != expected:
            raise CheckFailed(f"{archive.name} does not match {sums_file}")
        return f"{archive.name} matches SHA256SUMS"

    check(results, "archive checksum", checksum)
    with tarfile.open(archive) as tar:
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
        if len(tops) != 1:
            raise CheckFailed(f"the archive should hold one folder, holds {sorted(tops)}")
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, **safe)
    return dest / tops.pop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dist", type=Path, default=ROOT / "dist" / "xrayviewer",
                       help="the one-folder build or an unpacked release archive (default: dist/xrayviewer)")
    where.add_argument("--archive", type=Path, help="a release .tar.gz: check its checksum, unpack it, check that")
    parser.add_argument("--gui-seconds", type=float, default=8.0, help="how long the GUI must stay up")
    args = parser.parse_args(argv)

    results: list[tuple[str, bool, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="xrayviewer-check-"))
    if args.archive is not None:
        try:
            args.dist = unpack_archive(args.archive, tmp / "unpacked", results)
        except CheckFailed as exc:
            print(f"FAIL archive: {exc}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
            return 1
    exe = args.dist / "xrayviewer"
    if not exe.is_file():
        print(f"no build at {exe}: run packaging/build.sh first", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        return 2
    internal = args.dist / "_internal"
    samples = internal / "resources" / "samples"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XRAYVIEWER_", "PYTHON"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "config"),
               XDG_DATA_HOME=str(tmp / "data"), XDG_STATE_HOME=str(tmp / "state"),
               XDG_CACHE_HOME=str(tmp / "cache"), XRAYVIEWER_SETTINGS=str(tmp / "settings.ini"))
    try:
        def bundle() -> str:
            size = sum(p.stat().st_size for p in args.dist.rglob("*") if p.is_file() and not p.is_symlink())
            present = [m for m in FORBIDDEN if (internal / m).is_dir()]
            if present:
                raise CheckFailed(f"bundle contains {present}")
            missing = []
            if not (internal / "pylibjpeg").is_dir():
                missing.append("pylibjpeg")
            for module, dist in PLUGINS.items():
                if not (internal / module).is_dir():
                    missing.append(module)
                if not any((d / "entry_points.txt").is_file() for d in internal.glob(f"{dist}*.dist-info")):
                    missing.append(f"{dist} entry points")
            if missing:
                raise CheckFailed(f"decoder plugins missing: {missing}")
            if len(list(samples.glob("*.jpeg"))) != EXPECTED_SAMPLES:
                raise CheckFailed(f"resources/samples: expected {EXPECTED_SAMPLES} films in the bundle")
            models = sorted(p.name for p in (internal / "models").glob("*.onnx"))
            if args.dist.resolve() == (ROOT / "dist" / "xrayviewer").resolve():  # built from this checkout
                shipped = {p.name for p in _datafiles().model_files(ROOT)}
                bundled = {p.name for p in (internal / "models").iterdir() if p.is_file()}
                if shipped != bundled:
                    raise CheckFailed(f"models/ differs from the checkout's: bundled {sorted(bundled)}, "
                                      f"expected {sorted(shipped)} (rebuild?)")
            return f"{size / 2**20:.0f} MiB; no {'/'.join(FORBIDDEN)}; plugins + entry points present; " \
                   f"bundled model: {models or 'NONE (using a tiny test model)'}"

        check(results, "bundle contents", bundle)
        if (args.dist / "SHA256SUMS").is_file():
            check(results, "every file matches SHA256SUMS", lambda: verify_sums(args.dist))

        def version() -> str:
            r = sh([str(exe), "--version"], env, timeout=60)
            if r.returncode != 0 or "xrayviewer" not in r.stdout:
                raise CheckFailed(f"rc={r.returncode}\n{tail(r.stdout + r.stderr)}")
            return r.stdout.strip()

        check(results, "--version", version)

        model_args: list[str] = []
        if not list((internal / "models").glob("*.onnx")):
            sys.path.insert(0, str(ROOT))
            from tests.helpers.tiny_model import build_tiny_model  # needs onnx (the test extra)

            model_args = ["--model", str(build_tiny_model(tmp / "tiny.onnx"))]

        def score_samples() -> str:
            out = tmp / "samples.csv"
            r = sh([str(exe), "score", str(samples), "--csv", str(out), *model_args], env)
            if r.returncode != 0:
                raise CheckFailed(f"rc={r.returncode}\n{tail(r.stderr)}")
            return check_csv(out, EXPECTED_SAMPLES)

        check(results, "score the bundled sample study", score_samples)

        def score_dicoms() -> str:
            folder = tmp / "dicoms"
            folder.mkdir()
            made = make_dicoms(folder, samples)
            out = tmp / "dicoms.csv"
            r = sh([str(exe), "score", str(folder), "--csv", str(out), *model_args], env)
            if r.returncode != 0:
                detail = out.read_text(encoding="utf-8") if out.is_file() else ""
                raise CheckFailed(f"rc={r.returncode}\n{tail(r.stderr)}\n{detail}")
            return f"{', '.join(made)}: {check_csv(out, len(made))}"

        check(results, "score compressed DICOMs", score_dicoms)

        def no_network() -> str:
            strace = shutil.which("strace")
            if strace is None:
                return "skipped: strace not installed"
            trace = tmp / "strace.txt"
            r = sh([strace, "-f", "-qq", "-e", "trace=connect,bind,sendto", "-o", str(trace), str(exe), "score",
                    str(samples), "--csv", str(tmp / "strace.csv"), "-q", *model_args], env)
            if r.returncode != 0:
                raise CheckFailed(f"rc={r.returncode}\n{tail(r.stderr)}")
            lines = trace.read_text(encoding="utf-8", errors="replace").splitlines()
            inet = [ln for ln in lines if "sa_family=AF_INET" in ln]  # AF_INET and AF_INET6
            loopback = [ln for ln in inet if LOOPBACK_BIND.search(ln)]
            if len(inet) > len(loopback):
                raise CheckFailed(f"network connections attempted: {[ln for ln in inet if ln not in loopback][:3]}")
            unix = [ln for ln in lines if "AF_UNIX" in ln]
            return (f"no AF_INET/AF_INET6 connect/bind/sendto ({len(loopback)} loopback bind, e.g. urllib3's IPv6 "
                    f"probe, and {len(unix)} AF_UNIX, e.g. nscd/dbus, allowed)")

        check(results, "frozen score opens no network socket", no_network)

        def gui_help() -> str:
            r = sh([str(exe), "gui", "--help"], env, timeout=60)
            if r.returncode != 0 or "usage" not in r.stdout:
                raise CheckFailed(f"rc={r.returncode}\n{tail(r.stdout + r.stderr)}")
            return "usage shown"

        check(results, "gui --help", gui_help)

        def gui_starts() -> str:
            log = tmp / "agreement.sqlite3"
            cmd = [str(exe), "gui", str(samples), "--log", str(log), *model_args]
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                out, err = proc.communicate(timeout=args.gui_seconds)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    out, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, err = proc.communicate()
                crashes = list((tmp / "state").rglob("crash-*.txt"))
                if "Traceback" in err or crashes:
                    raise CheckFailed(f"errors while running: {crashes}\n{tail(err)}") from None
                return f"still running after {args.gui_seconds:g} s (offscreen), no traceback, no crash report"
            raise CheckFailed(f"exited early with rc={proc.returncode}\n{tail(out + err)}")

        check(results, "gui starts offscreen", gui_starts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [name for name, ok, _ in results if not ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
