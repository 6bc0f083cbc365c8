#!/usr/bin/env bash
# One command: install PyInstaller (the `package` extra) and build the one-folder app into dist/xrayviewer/.
#   packaging/build.sh            # warns if models/ has no *.onnx yet
#   packaging/build.sh --release  # refuses to build without the bundled model, then also writes the release
#                                 # archive dist/xrayviewer-VERSION-linux-ARCH.tar.gz and dist/SHA256SUMS
# Then check it: packaging/check_build.sh            (the build in dist/xrayviewer/)
#                packaging/check_build.sh --archive dist/xrayviewer-VERSION-linux-ARCH.tar.gz
#
# (what the archive holds: packaging/release-archive.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
release=0
case "${1:-}" in
  --release) release=1; export XRAYVIEWER_REQUIRE_MODEL=1 ;;
  "") ;;
  *) echo "usage: packaging/build.sh [--release]" >&2; exit 2 ;;
esac
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { python3 -m venv .venv; PY=.venv/bin/python; }
"$PY" -m pip install -q -e '.[package]'
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/xrayviewer.spec
echo "built dist/xrayviewer/ in $(( $(date +%s) - start )) s, $(du -sh dist/xrayviewer | cut -f1)"
[ "$release" = 1 ] || exit 0

exec bash packaging/release-archive.sh dist/xrayviewer dist
