#!/usr/bin/env bash
# Smoke-test dist/xrayviewer/ (built by packaging/build.sh), or an unpacked release archive (--dist DIR), or
# a release tar.gz (--archive FILE: checksum, unpack, check): CLI scoring, DICOM decoder plugins, GUI start.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)  # no cd: relative --dist/--archive paths stay the caller's
exec "${PYTHON:-$ROOT/.venv/bin/python}" "$ROOT/packaging/check_build.py" "$@"
