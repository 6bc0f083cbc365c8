"""The one error the DICOM writers raise: a message fit to show a user as it is."""


class DicomResultError(Exception):
    """A DICOM result could not be made or failed its checks; nothing was written for it."""
