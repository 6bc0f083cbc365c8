#!/usr/bin/env bash
# Add xrayviewer to this user's application menu: desktop entry, icons and AppStream metadata under
# ${XDG_DATA_HOME:-~/.local/share}. No root needed.
#   packaging/install-desktop-entry.sh [PATH/TO/xrayviewer]   # default, the first found: the binary beside
#       this script (an unpacked release archive), dist/xrayviewer/xrayviewer (a build), the checkout's
#       .venv/bin/xrayviewer (./scripts/run-app.sh's install), `xrayviewer` on PATH
#   packaging/install-desktop-entry.sh --uninstall
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
ID=io.github.xrayviewer
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS=$DATA/applications
ICONS=$DATA/icons/hicolor
META=$DATA/metainfo
FILES=("$APPS/$ID.desktop" "$ICONS/scalable/apps/$ID.svg" "$ICONS/256x256/apps/$ID.png" "$META/$ID.metainfo.xml")

refresh() {  # menus pick the change up without a re-login. No gtk-update-icon-cache: a per-user icon
  # cache goes stale when other apps add icons; touching the folder makes icon themes rescan it.
  if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$APPS" || true; fi
  if [ -d "$ICONS" ]; then touch "$ICONS"; fi
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "${FILES[@]}"
  refresh
  echo "removed the xrayviewer desktop entry from $DATA"
  exit 0
fi

# The entry launches an installed binary directly (never an installer script), so it starts offline.
EXE=${1:-}
if [ -z "$EXE" ]; then
  for candidate in "$HERE/xrayviewer" "$ROOT/dist/xrayviewer/xrayviewer" "$ROOT/.venv/bin/xrayviewer"; do
    if [ -f "$candidate" ] && [ -x "$candidate" ]; then EXE=$candidate; break; fi
  done
  if [ -z "$EXE" ] && ! EXE=$(command -v xrayviewer); then
    echo "error: no xrayviewer to launch: build it (packaging/build.sh), install it, or pass its path" >&2
    exit 2
  fi
fi
EXE=$(realpath "$EXE")
if [ ! -x "$EXE" ] || [ -d "$EXE" ]; then
  echo "error: not an executable: $EXE" >&2
  exit 2
fi
case $EXE in
  *[\"\`\$\\%]* | *$'\n'*)  # would need desktop-entry escaping; not worth the risk
    echo "error: the path $EXE contains a character (\" \` \$ \\ %) a desktop entry cannot safely hold" >&2
    exit 2 ;;
esac

# The entry launches this exact binary (quoted: the path may hold spaces).
install -d "$APPS"
awk -v exe="$EXE" '
  /^Exec=/    { print "Exec=\"" exe "\" gui %f"; next }
  /^TryExec=/ { print "TryExec=" exe; next }
  { print }
' "$HERE/linux/$ID.desktop" > "$APPS/$ID.desktop.tmp"
chmod 644 "$APPS/$ID.desktop.tmp"
mv "$APPS/$ID.desktop.tmp" "$APPS/$ID.desktop"
install -Dm644 "$HERE/linux/$ID.svg" "$ICONS/scalable/apps/$ID.svg"
install -Dm644 "$HERE/linux/$ID-256.png" "$ICONS/256x256/apps/$ID.png"
install -Dm644 "$HERE/linux/$ID.metainfo.xml" "$META/$ID.metainfo.xml"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$APPS/$ID.desktop"; fi
refresh
echo "installed the xrayviewer desktop entry (launches $EXE) into $DATA"
