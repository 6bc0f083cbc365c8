"""DICOM results of a scored film: a Comprehensive SR (TID 1500) and a captioned heat-map Secondary Capture.

Core code: numpy, Pillow, pydicom and highdicom; never Qt, never torch.
"""

from xrayviewer.dicomout.errors import DicomResultError
from xrayviewer.dicomout.finding import NORMAL, OUT_OF_SCOPE, PNEUMONIA, ScoredFilm
from xrayviewer.dicomout.results import FilmObjects, ResultBuilder, write_objects

__all__ = [
    "NORMAL", "OUT_OF_SCOPE", "PNEUMONIA", "DicomResultError", "FilmObjects", "ResultBuilder", "ScoredFilm",
    "write_objects",
]
