#!/usr/bin/env bash
# Install the Debian packages Qt needs, only those missing. Usage: system-deps.sh headless|gui|test
# headless: what offscreen Qt (screenshots) links against; gui: plus the X11/xcb platform plugin and Xvfb;
# test: headless plus the tools some tests use (strace for the no-network check, desktop-file and
# AppStream validators, Orthanc with its DICOMweb plugin for the PACS tests, dicom3tools' dciodvfy).
set -euo pipefail
mode=${1:-headless}

need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
want() { have_lib "$1" || need+=("$2"); }

want 'libEGL.so.1' libegl1
want 'libGL.so.1' libgl1
want 'libOpenGL.so.0' libopengl0
want 'libxkbcommon.so.0' libxkbcommon0
want 'libfontconfig.so.1' libfontconfig1
want 'libfreetype.so.6' libfreetype6
want 'libglib-2.0.so.0' libglib2.0-0
want 'libdbus-1.so.3' libdbus-1-3
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=("python3-venv")
fc-list >/dev/null 2>&1 && [ -n "$(fc-list 2>/dev/null | head -n1)" ] || need+=(fonts-dejavu-core fontconfig)
want_tool() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
if [ "$mode" = test ]; then
  want_tool strace strace
  want_tool desktop-file-validate desktop-file-utils
  want_tool appstreamcli appstream
  # PACS tests: a real Orthanc with its DICOMweb plugin; dciodvfy checks the DICOM results
  command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)  # sbin: not on a user's PATH
  [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
  want_tool dciodvfy dicom3tools
fi
if [ "$mode" = gui ]; then
  want 'libxcb-cursor.so.0' libxcb-cursor0
  want 'libxkbcommon-x11.so.0' libxkbcommon-x11-0
  want 'libxcb-icccm.so.4' libxcb-icccm4
  want 'libxcb-keysyms.so.1' libxcb-keysyms1
  want 'libxcb-image.so.0' libxcb-image0
  want 'libxcb-render-util.so.0' libxcb-render-util0
  want 'libxcb-shape.so.0' libxcb-shape0
  want 'libxcb-xinerama.so.0' libxcb-xinerama0
  want 'libxcb-randr.so.0' libxcb-randr0
  want 'libX11-xcb.so.1' libx11-xcb1
  want_tool xvfb-run xvfb  # a virtual screen for the README screenshots (xvfb-run -s "-screen 0 1366x768x24")
fi
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "xrayviewer: please install the equivalents of: ${need[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "xrayviewer: as root, run: apt-get install -y ${need[*]}" >&2; exit 1; fi
fi
echo "xrayviewer: installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
