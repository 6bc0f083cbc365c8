"""Builders for film-test files: DICOMs written with pydicom from the real sample films, plus metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate

SAMPLES = Path(__file__).parents[2] / "resources" / "samples"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_IMAGE = "1.2.840.10008.5.1.4.1.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpeg"))


def shrink(gray: np.ndarray, width: int) -> np.ndarray:
    """Downscale a uint8 film to `width` px wide, keeping its aspect ratio (keeps the tests fast)."""
    h, w = gray.shape
    img = Image.fromarray(gray).resize((width, round(h * width / w)), Image.Resampling.BILINEAR)
    return np.asarray(img)


def correlation(a: np.ndarray, b: np.ndarray, size: int = 128) -> float:
    """Pearson correlation after resizing both to size x size (so reduced decodes compare too)."""

    def norm(x: np.ndarray) -> np.ndarray:
        img = Image.fromarray(np.asarray(x, dtype=np.float32))
        return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64).ravel()

    return float(np.corrcoef(norm(a), norm(b))[0, 1])


def make_dataset(
    pixels: np.ndarray,
    *,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    sop_class: str = DX_IMAGE,
    frames: int | None = None,
    **attrs: object,
) -> Dataset:
    """A minimal but valid image dataset holding `pixels` natively (H, W), (F, H, W) or (H, W, 3)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid.generate_uid()
    ds.SeriesInstanceUID = uid.generate_uid()
    ds.Modality = "DX"
    ds.StudyDate = "20240131"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "P-0001"
    ds.PatientBirthDate = "20200101"
    ds.PatientSex = "F"
    ds.AccessionNumber = "A123"
    ds.InstitutionName = "Test Hospital"
    ds.Manufacturer = "xrayviewer tests"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    color = pixels.ndim == 3 and pixels.shape[-1] == 3 and frames is None
    ds.SamplesPerPixel = 3 if color else 1
    if color:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if color else pixels.shape[-2:]
    if frames is not None:
        ds.NumberOfFrames = frames
    bits_allocated = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def save(ds: Dataset, path: Path, tsyntax: str | None = None) -> Path:
    if tsyntax is not None:
        ds.file_meta.TransferSyntaxUID = tsyntax
    ds.save_as(path, enforce_file_format=True)
    return path


def encapsulate_frames(ds: Dataset, frames: list[bytes], tsyntax: str) -> Dataset:
    """Put already-compressed frames (e.g. Pillow JPEGs) into `ds` as encapsulated pixel data."""
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = tsyntax
    return ds


def jpeg_bytes(gray: np.ndarray, quality: int = 95, **save_args: object) -> bytes:
    from io import BytesIO

    out = BytesIO()
    Image.fromarray(gray).save(out, "JPEG", quality=quality, **save_args)
    return out.getvalue()
