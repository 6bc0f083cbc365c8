"""Film input: find and decode chest films (JPEG, PNG, DICOM) into display-ready grayscale arrays.

Core code: no Qt, no torch. Everything a caller needs is re-exported here.

- ``discover_films(root)``: film files under a folder, sorted by relative path.
- ``load_film(path, min_size=None, keep_modality=False)``: one ``Film`` or one ``FilmError``.
  ``Film.pixels`` is 2-D, brighter = denser; uint8 (0..255) or uint16 (0..65535) for JPEG/PNG,
  float32 (0..1, after modality LUT, VOI and MONOCHROME1 inversion) for DICOM.
- Limits: ``MAX_PIXELS`` (rows x columns [x frames]) and ``MAX_FILE_BYTES``, checked before decoding.

Module map: ``discover`` (folder walk), ``sniff`` (magic bytes), ``load`` (read + dispatch + error
boundary), ``raster`` (Pillow), ``dicom`` / ``dicom_reduced`` / ``dicom_meta`` / ``voi`` (pydicom).
"""

from .discover import FILM_SUFFIXES, discover_films
from .errors import FilmError
from .film import Film
from .limits import MAX_FILE_BYTES, MAX_PIXELS
from .load import load_film

__all__ = [
    "FILM_SUFFIXES",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "Film",
    "FilmError",
    "discover_films",
    "load_film",
]
