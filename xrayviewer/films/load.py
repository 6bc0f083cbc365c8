"""load_film: read the bytes once, dispatch on magic bytes, and turn every failure into one FilmError."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from . import limits
from .dicom import HeaderCheck, decode_dicom
from .errors import FilmError, is_decoder_failure
from .film import Film
from .raster import decode_raster
from .sniff import HEAD_BYTES, describe_unknown, sniff

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
# Non-blocking open so a FIFO named like a film cannot hang the viewer; regular files ignore the flag.
_OPEN_FLAGS |= getattr(os, "O_NONBLOCK", 0)


def load_film(
    path: Path, *, min_size: int | None = None, keep_modality: bool = False, header_check: HeaderCheck | None = None
) -> Film:
    """Decode a JPEG, PNG or DICOM film (the kind is read from the bytes, not the file name).

    `min_size` promises the caller will shrink the film to min_size x min_size, so decoders may work at
    reduced resolution while both edges stay >= min_size (JPEG DCT scaling, JPEG 2000 resolution
    levels); ``original_size`` still reports the full size. Raises FilmError, with one readable message,
    for anything that is not a decodable film.

    ``header_check`` is shown a DICOM's attributes (``Film.meta``) before its pixels are decoded; if it
    returns False the film comes back undecoded (``decoded=False``, empty ``pixels``). JPEG and PNG have
    no such header and are always decoded.
    """
    if min_size is not None and min_size <= 0:
        min_size = None
    sha256: str | None = None
    try:
        data = read_film_bytes(Path(path))
        sha256 = hashlib.sha256(data).hexdigest()
        return _decode(data, sha256, min_size, keep_modality, header_check)
    except FilmError as exc:
        if exc.sha256 is None:
            exc.sha256 = sha256
        raise
    except MemoryError as exc:
        raise FilmError("not enough memory to decode this image", sha256=sha256) from exc
    except RecursionError as exc:
        raise FilmError("corrupt image: nested too deeply to read", sha256=sha256) from exc
    except BaseException as exc:  # the boundary: no decoder's raw message or traceback reaches the user
        if not is_decoder_failure(exc):
            raise
        raise FilmError(f"could not decode this image ({type(exc).__name__})", sha256=sha256) from exc


def _decode(
    data: bytes, sha256: str, min_size: int | None, keep_modality: bool, header_check: HeaderCheck | None
) -> Film:
    if not data:
        raise FilmError("not a readable image: file is empty (0 bytes)")
    kind = sniff(data[:HEAD_BYTES])
    if kind == "dicom":
        dcm = decode_dicom(data, min_size=min_size, keep_modality=keep_modality, header_check=header_check)
        return Film(
            pixels=dcm.pixels,
            format="dicom",
            original_size=dcm.original_size,
            sha256=sha256,
            notes=dcm.notes,
            meta=dcm.meta,
            phi_keys=dcm.phi_keys,
            window_presets=dcm.window_presets,
            modality=dcm.modality,
            colour=dcm.colour,
            decoded=dcm.decoded,
        )
    if kind in ("jpeg", "png"):
        raster = decode_raster(data, kind, min_size)
        return Film(
            pixels=raster.pixels,
            format=kind,
            original_size=raster.original_size,
            sha256=sha256,
            notes=raster.notes,
            colour=raster.colour,
        )
    what = describe_unknown(data)
    raise FilmError("not a JPEG/PNG/DICOM image" + (f" (it looks like {what})" if what else ""))


def read_film_bytes(path: Path) -> bytes:
    """All bytes of a regular file, refusing folders, devices, pipes and files over MAX_FILE_BYTES."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError as exc:
        raise FilmError("file not found (it may have been moved or deleted)") from exc
    except IsADirectoryError as exc:
        raise FilmError("not a film: this is a folder, not a file") from exc
    except PermissionError as exc:
        if os.path.isdir(path):  # Windows refuses to open folders with "access denied"
            raise FilmError("not a film: this is a folder, not a file") from exc
        raise FilmError("permission denied: this file cannot be read") from exc
    except OSError as exc:
        raise FilmError(f"cannot open file: {exc.strerror or type(exc).__name__}") from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FilmError("not a film: this is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise FilmError("not a film: not a regular file (a device, pipe or socket)")
        if st.st_size > limits.MAX_FILE_BYTES:
            raise _too_big(st.st_size)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read()
    except OSError as exc:
        raise FilmError(f"cannot read file: {exc.strerror or type(exc).__name__}") from exc
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limits.MAX_FILE_BYTES:  # it grew while we read it
        raise _too_big(len(data))
    return data


def _too_big(size: int) -> FilmError:
    limit = limits.format_bytes(limits.MAX_FILE_BYTES)
    return FilmError(f"file too large: {limits.format_bytes(size)} exceeds the {limit} limit")
