"""The decoded film handed to the GUI and the inference engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)  # eq=False: comparing numpy arrays with == is ambiguous
class Film:
    """A decoded film, ready to display and to classify.

    ``pixels`` is 2-D grayscale where brighter means denser (LUTs applied, MONOCHROME1 inverted).
    Its dtype tells its display range: uint8 0..255, uint16 0..65535, float32 0..1. It may be smaller
    than ``original_size`` when ``load_film(min_size=...)`` allowed a reduced-resolution decode.

    ``original_size`` is (width, height) at full resolution, in display orientation (after EXIF rotation).

    ``modality`` (DICOM with ``keep_modality=True`` only) holds float32 values after the modality
    LUT/rescale and before VOI, in the same shape as ``pixels``, so the GUI can re-window with
    ``window_presets`` (center, width, label). Re-windowed MONOCHROME1 films
    (``meta["PhotometricInterpretation"]``) must be inverted by the caller.

    ``colour`` is the fraction of the source's pixels that showed visible colour before the decoder
    reduced it to luma (0.0 for a grey source, and for a grey film merely stored as RGB), so the scope
    gate can tell a photograph from a radiograph. ``decoded`` is False only when ``load_film``'s
    ``header_check`` declined a DICOM: then ``pixels`` is empty and only the header fields are set.
    """

    pixels: np.ndarray
    format: str
    original_size: tuple[int, int]
    sha256: str
    notes: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    phi_keys: frozenset[str] = frozenset()
    window_presets: list[tuple[float, float, str]] = field(default_factory=list)
    modality: np.ndarray | None = None
    colour: float = 0.0
    decoded: bool = True
