"""xrayviewer: pneumonia triage assistant for pediatric chest X-rays.

The model is an assistant, never the final diagnosis.
"""

__version__ = "0.1.0"

NOTICE = (
    "xrayviewer is a decision-support assistant, not a diagnosis. "
    "Every film must be read by a qualified radiologist."
)
