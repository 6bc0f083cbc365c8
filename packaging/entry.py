"""PyInstaller entry point for the frozen xrayviewer app: the same CLI as the `xrayviewer` script.

The crash handler goes in before the CLI is imported, so a module the build failed to bundle shows up
as a crash report naming it rather than a bare traceback.
"""

from __future__ import annotations

import multiprocessing
import sys

from xrayviewer.applog import install_crash_handler

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a no-op unless a library ever spawns processes from the bundle
    install_crash_handler()
    from xrayviewer.cli import main

    sys.exit(main())
