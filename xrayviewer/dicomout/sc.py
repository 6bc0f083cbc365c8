"""The picture a human looks at: a Secondary Capture of the film with its heat map and a burned-in caption.

The caption ("AI triage - not for diagnosis", the model's call, probability and threshold) sits in a band
below the film, never over the anatomy, and is burned into the pixels so no viewer can hide it
(BurnedInAnnotation YES).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import highdicom as hd
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from xrayviewer import NOTICE, __version__
from xrayviewer.dicomout.errors import DicomResultError
from xrayviewer.dicomout.finding import OUT_OF_SCOPE, ScoredFilm
from xrayviewer.dicomout.sr import MANUFACTURER

CAPTION = "AI triage - not for diagnosis"
SC_SERIES_DESCRIPTION = "AI triage heat map (xrayviewer) - not for diagnosis"
#: The capture is made at most this many pixels on the long edge: plenty to read, small to send.
LONG_EDGE = 1024
_ORIENTATION = set("LRAPHF")


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled FreeType font
    except (OSError, ImportError):
        return ImageFont.load_default()


def caption_lines(film: ScoredFilm) -> tuple[str, str]:
    """The two caption lines: the warning, then what the model said."""
    if film.prediction == OUT_OF_SCOPE:
        detail = f"Out of scope, not assessed: {film.scope_reason.strip()}"
    else:
        detail = f"Model call: {film.prediction}"
        if film.probability is not None:
            detail += f"   p = {film.probability:.2f}"
        detail += f"   threshold {film.threshold:.2f}"
        if film.borderline:
            detail += "   (borderline)"
    return CAPTION, f"{detail}   [{film.model_id}]"


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """The largest font up to ``size`` that fits the text into ``width``."""
    while size > 8:
        font = _font(size)
        if draw.textlength(text, font=font) <= width:
            return font
        size = int(size * 0.85)
    return _font(8)


def render(film: ScoredFilm, long_edge: int = LONG_EDGE) -> np.ndarray:
    """The capture's RGB pixels: film (with heat map when there is one) over a captioned band."""
    from xrayviewer.films import FilmError, load_film
    from xrayviewer.inference.heatmap import overlay, to_display_gray

    try:
        decoded = load_film(film.source, min_size=long_edge)
    except FilmError as exc:
        raise DicomResultError(f"cannot read the film for the heat map image: {exc}") from exc
    gray = to_display_gray(decoded.pixels)
    w, h = decoded.original_size
    s = min(1.0, long_edge / max(w, h))
    size = (max(64, round(w * s)), max(64, round(h * s)))
    if (gray.shape[1], gray.shape[0]) != size:
        gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    if film.cam is not None:
        picture = overlay(gray, np.asarray(film.cam).squeeze(), threshold=film.threshold)
    else:
        picture = Image.fromarray(gray).convert("RGB")
    width, height = picture.size
    band = max(48, round(width * 0.10))
    canvas = Image.new("RGB", (width, height + band), (0, 0, 0))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    top, bottom = caption_lines(film)
    margin = max(4, width // 80)
    big = _fit(draw, top, int(band * 0.42), width - 2 * margin)
    small = _fit(draw, bottom, int(band * 0.26), width - 2 * margin)
    draw.text((margin, height + band * 0.06), top, fill=(255, 220, 0), font=big)
    draw.text((margin, height + band * 0.60), bottom, fill=(255, 255, 255), font=small)
    return np.asarray(canvas, dtype=np.uint8)


def _orientation(source: Dataset) -> tuple[tuple[str, str], bool]:
    """The source's Patient Orientation when it has a usable one; else a placeholder and False."""
    values = list(getattr(source, "PatientOrientation", None) or [])
    if len(values) == 2 and all(v and set(str(v)) <= _ORIENTATION for v in values):
        return (str(values[0]), str(values[1])), True
    return ("L", "F"), False


def build_secondary_capture(
    film: ScoredFilm,
    source: Dataset,
    *,
    series_uid: str,
    series_number: int,
    instance_number: int,
    sop_uid: str | None = None,
    long_edge: int = LONG_EDGE,
) -> hd.sc.SCImage:
    """The Secondary Capture for one film, in the film's study. ``source`` is the film's header."""
    pixels = render(film, long_edge)
    orientation, known = _orientation(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc = hd.sc.SCImage.from_ref_dataset(
                ref_dataset=source,
                pixel_array=pixels,
                photometric_interpretation="RGB",
                bits_allocated=8,
                coordinate_system="PATIENT",
                series_instance_uid=series_uid,
                series_number=series_number,
                sop_instance_uid=sop_uid or hd.UID(),
                instance_number=instance_number,
                manufacturer=MANUFACTURER,
                patient_orientation=orientation,
                series_description=SC_SERIES_DESCRIPTION,
                software_versions=f"xrayviewer {__version__}",
                manufacturer_model_name=film.model_id[:64],
                transfer_syntax_uid=ExplicitVRLittleEndian,
            )
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomResultError(f"cannot build the heat map image: {exc}") from exc
    if not known:
        sc["PatientOrientation"].value = None  # type 2: empty says "unknown" rather than guessing a direction
    for keyword in ("BodyPartExamined", "Laterality"):
        if source.get(keyword):
            setattr(sc, keyword, source[keyword].value)
    if "Laterality" not in sc and "BodyPartExamined" not in sc:
        sc.add_new("Laterality", "CS", None)  # type 2C, needed when the part is unknown: empty, not a guess
    sc.ConversionType = "WSD"  # made on a workstation, not digitised
    sc.BurnedInAnnotation = "YES"  # the caption is in the pixels
    sc.ImageComments = NOTICE
    sc.DerivationDescription = "Film with the model's evidence heat map and a burned-in caption"
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = [ref]
    return sc


#: Type 2 patient and study attributes every result copies from its film: present, possibly empty.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def source_header(path: Path) -> Dataset:
    """The film's DICOM header (no pixels), ready to be the results' evidence.

    Type 2 patient/study attributes a film left out are added empty (what Type 2 allows), since the results
    must carry them. Raises DicomResultError when the file is not DICOM or lacks the UIDs to reference it.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise DicomResultError(f"not a readable DICOM file: {exc}") from exc
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"):
        if not str(ds.get(keyword, "") or ""):
            raise DicomResultError(f"the film has no {keyword}, so a result cannot reference it")
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, None)
    return ds
