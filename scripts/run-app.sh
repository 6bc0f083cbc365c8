#!/usr/bin/env bash
# One command for a new user on a fresh Debian machine: install everything, open the app on the
# bundled sample study. Extra arguments go to `xrayviewer gui` (e.g. a study folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh gui
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found: scoring the sample study instead (resources/samples -> samples-scores.csv)." >&2
  echo "Run this again from a desktop session to open the window." >&2
  exec .venv/bin/xrayviewer score resources/samples --csv samples-scores.csv
fi
exec .venv/bin/xrayviewer gui "$@"
