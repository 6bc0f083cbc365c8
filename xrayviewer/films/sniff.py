"""Tell file kinds apart by their first bytes, never by their name (a PNG named .dcm still loads)."""

from __future__ import annotations

import struct

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DICOM_PREAMBLE_LEN = 128
DICOM_MAGIC = b"DICM"
HEAD_BYTES = 256
"""How many leading bytes ``sniff`` and ``looks_like_dicom`` need at most."""

# Value representations whose explicit-VR header has 2 reserved bytes and a 4-byte length.
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL",
     b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)  # fmt: skip
# Groups a bare (preamble-less) dataset plausibly starts with: file meta, identifying, or ACR-NEMA.
_FIRST_GROUPS = frozenset({0x0002, 0x0008})

_OTHER_FORMATS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"BM", "a BMP image"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (0, b"\xff\x4f\xff\x51", "a JPEG 2000 image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!", "a RAR archive"),
)


def sniff(head: bytes) -> str | None:
    """``"jpeg"``, ``"png"`` or ``"dicom"`` from the first HEAD_BYTES bytes of a file; None otherwise."""
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if head.startswith(PNG_MAGIC):
        return "png"
    if looks_like_dicom(head):
        return "dicom"
    return None


def has_dicom_preamble(head: bytes) -> bool:
    """True for a DICOM Part 10 file: 128-byte preamble then ``DICM``."""
    return head[DICOM_PREAMBLE_LEN : DICOM_PREAMBLE_LEN + 4] == DICOM_MAGIC


def looks_like_dicom(head: bytes) -> bool:
    """DICOM with a preamble, or a bare dataset (no preamble, no file meta) that parses plausibly.

    The bare-dataset test is strict on purpose, so random files are not mistaken for DICOM: the first
    two data elements must parse in either VR encoding and byte order, with ascending tags in group
    0002 or 0008 and short, even lengths.
    """
    if has_dicom_preamble(head):
        return True
    return any(_bare_dataset(head, endian, explicit) for endian in "<>" for explicit in (True, False))


def _bare_dataset(head: bytes, endian: str, explicit: bool) -> bool:
    offset, previous = 0, -1
    for _ in range(2):
        if offset + 8 > len(head):
            return False
        group, element = struct.unpack_from(endian + "HH", head, offset)
        tag = group << 16 | element
        if group not in _FIRST_GROUPS or tag <= previous:
            return False
        if explicit:
            vr = head[offset + 4 : offset + 6]
            if vr in _SHORT_VRS:
                (length,) = struct.unpack_from(endian + "H", head, offset + 6)
                offset += 8
            elif vr in _LONG_VRS:
                if offset + 12 > len(head) or head[offset + 6 : offset + 8] != b"\x00\x00":
                    return False
                (length,) = struct.unpack_from(endian + "I", head, offset + 8)
                offset += 12
            else:
                return False
        else:
            (length,) = struct.unpack_from(endian + "I", head, offset + 4)
            offset += 8
        if length % 2 or length > 1024:
            return False
        offset += length
        previous = tag
    return True


def describe_unknown(data: bytes) -> str:
    """A short description of what a non-film file seems to be, for error messages."""
    for offset, magic, what in _OTHER_FORMATS:
        if data[offset : offset + len(magic)] == magic:
            return what
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIF/AVIF image"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    sample = data[:4096]
    if sample and b"\x00" not in sample:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 3:  # a multi-byte character cut at the sample's end is fine
                return ""
        lowered = sample.lstrip().lower()
        if lowered.startswith((b"<!doctype html", b"<html")):
            return "an HTML page"
        return "a text file"
    return ""
