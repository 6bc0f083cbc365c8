#!/usr/bin/env bash
# Smoke-test dist/xrayviewer/ (built by packaging/build.sh): CLI scoring, DICOM decoder plugins, GUI start.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" packaging/check_build.py "$@"
