"""Film input: find and decode chest films (JPEG, PNG, DICOM) into display-ready grayscale arrays.

Core code: no Qt, no torch. Everything a caller needs is re-exported here.
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
