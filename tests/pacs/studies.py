"""Studies the PACS tests load into Orthanc: real sample films as DX/CR DICOMs, plus non-image objects."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset

from tests.dicomout.films import sample_gray
from tests.films.testkit import BASIC_TEXT_SR, CR_IMAGE, DX_IMAGE, make_dataset
from tests.pacs.orthanc import Orthanc


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@dataclass
class Study:
    uid: str
    films: list[Dataset] = field(default_factory=list)
    others: list[Dataset] = field(default_factory=list)

    def sop(self, i: int) -> str:
        return str(self.films[i].SOPInstanceUID)


def text_sr(study_uid: str) -> Dataset:
    """A Basic Text SR: a real, valid DICOM instance with no picture in it."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = BASIC_TEXT_SR
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = uid.generate_uid()
    ds.Modality = "SR"
    ds.PatientID = "P-0001"
    ds.PatientName = "Doe^Jane"
    ds.ValueType = "CONTAINER"
    return ds


def load_study(server: Orthanc, *, films: int = 2, modality: str = "DX", date: str = "20240131",
               description: str = "CHEST AP", non_image: bool = False, width: int = 256) -> Study:
    """Write a study into Orthanc and return what was written."""
    study = Study(uid=uid.generate_uid())
    series = uid.generate_uid()
    for i in range(films):
        ds = make_dataset(sample_gray(i, width), sop_class=CR_IMAGE if modality == "CR" else DX_IMAGE,
                          Modality=modality, StudyDate=date, StudyTime="101500", StudyID="S1",
                          StudyDescription=description, InstanceNumber=i + 1)
        ds.StudyInstanceUID = study.uid
        ds.SeriesInstanceUID = series
        study.films.append(ds)
        server.upload(_bytes(ds))
    if non_image:
        ds = text_sr(study.uid)
        study.others.append(ds)
        server.upload(_bytes(ds))
    return study
