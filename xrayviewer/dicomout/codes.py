"""Coded concepts the SR uses: standard codes where one exists, our private scheme (99XRV) where not.

A private scheme is declared in the SR's Coding Scheme Identification Sequence, so a receiver can tell
whose codes these are.
"""

from __future__ import annotations

from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

SCHEME = "99XRV"
CODING_SCHEME = CodingSchemeIdentificationItem(
    designator=SCHEME,
    name="xrayviewer private codes",
    responsible_organization="xrayviewer project",
)


def _private(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


PNEUMONIA = CodedConcept(value="233604007", scheme_designator="SCT", meaning="Pneumonia")
PRESENT = codes.SCT.Present
ABSENT = codes.SCT.Absent
LUNG = codes.SCT.Lung
CHEST_IMAGING = codes.SCT.ChestImaging
NO_UNITS = codes.UCUM.NoUnits
COMMENT = codes.DCM.Comment
DEVICE = codes.DCM.Device
PERSON = codes.DCM.Person
# TID 1500 row 12: free-text and coded statements about the whole report.
QUALITATIVE_EVALUATIONS = CodedConcept(value="C0034375", scheme_designator="UMLS", meaning="Qualitative Evaluations")

PROBABILITY = _private("XRV001", "Pneumonia probability (model output)")
THRESHOLD = _private("XRV002", "Operating threshold")
OUT_OF_SCOPE = _private("XRV003", "Not assessed: outside the model's scope")
SCOPE_REASON = _private("XRV004", "Reason outside the model's scope")
BORDERLINE = _private("XRV005", "Probability near the operating threshold")
MODEL_CALL = _private("XRV006", "Model call at the operating threshold")
READER_NOTE = _private("XRV007", "Reader note")
