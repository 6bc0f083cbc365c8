#!/usr/bin/env bash
# One command: install PyInstaller (the `package` extra) and build the one-folder app into dist/xrayviewer/.
#   packaging/build.sh            # warns if models/ has no *.onnx yet
#   packaging/build.sh --release  # refuses to build without the bundled model
# Then check it: packaging/check_build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--release" ]; then export XRAYVIEWER_REQUIRE_MODEL=1; fi
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { python3 -m venv .venv; PY=.venv/bin/python; }
"$PY" -m pip install -q -e '.[package]'
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/xrayviewer.spec
echo "built dist/xrayviewer/ in $(( $(date +%s) - start )) s, $(du -sh dist/xrayviewer | cut -f1)"
