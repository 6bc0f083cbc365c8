import sys

from xrayviewer.cli import main

sys.exit(main())
