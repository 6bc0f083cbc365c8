import os
import shutil

import pytest


@pytest.fixture(scope="session")
def dciodvfy() -> str:
    """dciodvfy (Debian's dicom3tools); CI installs it, so only a machine without apt may skip."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy is missing in CI: scripts/system-deps.sh test installs dicom3tools")
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    return exe
