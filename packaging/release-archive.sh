#!/usr/bin/env bash
# Pack a one-folder build into a versioned, reproducible release archive with checksums (build.sh --release
# runs this after building):
#   packaging/release-archive.sh [BUILD_DIR [OUT_DIR]]   # default: dist/xrayviewer -> dist/
# writes OUT_DIR/xrayviewer-VERSION-linux-ARCH.tar.gz and OUT_DIR/SHA256SUMS (its checksum), VERSION as the
# build's own `xrayviewer --version` says. The archive holds one folder of that name: the build (xrayviewer,
# _internal/), LICENSE, install-desktop-entry.sh with linux/ (menu entry and icons for the unpacked binary)
# and SHA256SUMS of every file in it. Reproducible: sorted names, root-owned, mtimes and gzip header from
# SOURCE_DATE_EPOCH (default: the last commit's time).
# Check it with: packaging/check_build.sh --archive OUT_DIR/xrayviewer-VERSION-linux-ARCH.tar.gz
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=$(realpath "${1:-$ROOT/dist/xrayviewer}")
OUT=$(realpath "${2:-$ROOT/dist}")
[ -x "$BUILD/xrayviewer" ] || { echo "error: no build at $BUILD (run packaging/build.sh)" >&2; exit 2; }

version=$("$BUILD/xrayviewer" --version | awk '$1 == "xrayviewer" { print $2 }')
case $version in
  [0-9]*) ;;
  *) echo "error: $BUILD/xrayviewer --version gave no version" >&2; exit 1 ;;
esac
name=xrayviewer-$version-linux-$(uname -m)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}

mkdir -p "$OUT"
stage=$(mktemp -d "$OUT/.release-stage.XXXXXX")  # beside the build, so hard links work
trap 'rm -rf "$stage"' EXIT
cp -al "$BUILD" "$stage/$name" 2>/dev/null || cp -a "$BUILD" "$stage/$name"  # hard links when possible
install -m644 "$ROOT/LICENSE" "$stage/$name/LICENSE"
install -m755 "$HERE/install-desktop-entry.sh" "$stage/$name/install-desktop-entry.sh"
install -d "$stage/$name/linux"
for f in io.github.xrayviewer.desktop io.github.xrayviewer.metainfo.xml io.github.xrayviewer.svg \
         io.github.xrayviewer-256.png; do
  install -m644 "$HERE/linux/$f" "$stage/$name/linux/$f"
done
rm -f "$stage/$name/SHA256SUMS"
(cd "$stage/$name" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum > "$stage/sums" \
  && mv "$stage/sums" SHA256SUMS)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -C "$stage" -cf - "$name" | gzip -n > "$OUT/$name.tar.gz.partial"
mv "$OUT/$name.tar.gz.partial" "$OUT/$name.tar.gz"
(cd "$OUT" && sha256sum "$name.tar.gz" > SHA256SUMS)
echo "release: $OUT/$name.tar.gz ($(du -h "$OUT/$name.tar.gz" | cut -f1)), $OUT/SHA256SUMS"
echo "check it: packaging/check_build.sh --archive $OUT/$name.tar.gz"
