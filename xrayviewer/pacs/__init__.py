"""A PACS link over DICOMweb: search (QIDO-RS), retrieve into a local cache (WADO-RS), store results (STOW-RS).

Configuration and credentials come from a config file or the environment (``config``), never the
command line. Core code: requests, dicomweb-client, pydicom; never Qt.
"""

from xrayviewer.pacs.cache import FetchResult, StudyCache
from xrayviewer.pacs.client import InstanceRef, PacsClient, StudySummary
from xrayviewer.pacs.config import PacsConfig, load_config
from xrayviewer.pacs.errors import PacsError

__all__ = ["FetchResult", "InstanceRef", "PacsClient", "PacsConfig", "PacsError", "StudyCache", "StudySummary",
           "load_config"]
