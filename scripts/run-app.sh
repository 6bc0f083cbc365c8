#!/usr/bin/env bash
# One command for a new user on a fresh Debian machine. The first run installs everything (missing system
# packages, a venv, the app: this needs the network once); later runs start straight away, offline. It
# reinstalls only when pyproject.toml or setup.py changed (new dependencies) or the venv is broken.
#
#   ./scripts/run-app.sh [FOLDER] [gui options]   # open the app (default: the bundled sample study)
#   ./scripts/run-app.sh --desktop-entry          # install, then add xrayviewer to this user's app menu
#   ./scripts/run-app.sh --check                  # exit 0 if installed and current, 1 if a run would install
#
# With no display it scores the sample study instead and writes the CSV to the user data folder
# (${XDG_DATA_HOME:-~/.local/share}/xrayviewer/samples-scores.csv). XRAYVIEWER_VENV picks the venv
# (default: .venv in the checkout).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${XRAYVIEWER_VENV:-$ROOT/.venv}
STAMP=$VENV/.xrayviewer-install  # the hash of the files the install was made from
want=$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)

# Why an install is needed; empty when the one in $VENV is current and starts.
install_reason() {
  if [ ! -x "$VENV/bin/xrayviewer" ]; then
    echo "xrayviewer is not installed in $VENV"
  elif [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "pyproject.toml or setup.py changed since the last install"
  elif ! "$VENV/bin/xrayviewer" --version >/dev/null 2>&1; then
    echo "the install in $VENV does not start (moved or damaged)"
  fi
}

install() {
  echo "xrayviewer: installing ($1); this needs the network once" >&2
  bash "$ROOT/scripts/system-deps.sh" gui
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip && "$VENV/bin/python" -m pip install -q -e "$ROOT"; }; then
    echo "xrayviewer: the install failed (see above); the first run needs the network to fetch packages" >&2
    exit 1
  fi
  rm -f "$STAMP"
  echo "$want" > "$STAMP"
  echo "xrayviewer: installed; later runs start offline" >&2
}

reason=$(install_reason)
if [ "${1:-}" = "--check" ]; then
  if [ -n "$reason" ]; then echo "needs an install: $reason"; exit 1; fi
  echo "installed and current: $VENV"
  exit 0
fi
[ -z "$reason" ] || install "$reason"

if [ "${1:-}" = "--desktop-entry" ]; then
  exec bash "$ROOT/packaging/install-desktop-entry.sh" "$VENV/bin/xrayviewer"
fi

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  out_dir=${XDG_DATA_HOME:-$HOME/.local/share}/xrayviewer
  mkdir -p "$out_dir"
  echo "No display found: scoring the sample study instead (CSV: $out_dir/samples-scores.csv)." >&2
  echo "Run this again from a desktop session to open the window." >&2
  exec "$VENV/bin/xrayviewer" score "$ROOT/resources/samples" --csv "$out_dir/samples-scores.csv"
fi
exec "$VENV/bin/xrayviewer" gui "$@"
