#!/usr/bin/env bash
# Prints the path of a wrk (the HTTP load tool issue 9's HTTP JSON figure is measured with), for
# `make benchmark` (bench/suite.ts). A wrk on PATH is used as it is. Otherwise Debian's `wrk`
# package and its LuaJIT libraries are downloaded with `apt-get download` (no root, nothing
# installed system-wide) and unpacked into ~/.cache/balance-service/wrk (WRK_DIR to change it),
# with a wrapper that points the binary at those libraries. Idempotent: an unpacked wrk of the
# package version apt offers is kept; concurrent runs wait for one another. Fails loudly (exit 1,
# the reason) without apt-get or the packages.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
  command -v wrk
  exit 0
fi
PACKAGES=(wrk libluajit-5.1-2 libluajit-5.1-common)
DIR="${WRK_DIR:-$HOME/.cache/balance-service/wrk}"
wrapper="$DIR/wrk"
stamp="$DIR/wrk.version"

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  echo "install-wrk: no wrk on PATH, and apt-get and dpkg are needed to fetch Debian's" >&2
  exit 1
fi
wanted="debian wrk $(apt-cache policy wrk 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [ "$wanted" = "debian wrk " ] || [ "$wanted" = "debian wrk (none)" ]; then
  echo "install-wrk: apt offers no wrk package (apt-get update first?)" >&2
  exit 1
fi

installed() { [ -x "$wrapper" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; }
if installed; then
  echo "$wrapper"
  exit 0
fi
mkdir -p "$DIR"
exec 9>"$DIR/.wrk.lock"
flock 9
if installed; then
  echo "$wrapper"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-wrk: $wanted into $DIR" >&2
( cd "$work" && apt-get download "${PACKAGES[@]}" >&2 )
rm -rf "$DIR/root"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$DIR/root"; done
libs=$(dirname "$(find "$DIR/root" -name 'libluajit-5.1.so.2*' | head -1)")
cat > "$wrapper" <<EOF
#!/bin/sh
# Debian's wrk, unpacked by scripts/install-wrk.sh, with the LuaJIT it was built against.
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$DIR/root/usr/bin/wrk" "\$@"
EOF
chmod 0755 "$wrapper"
"$wrapper" --version >/dev/null 2>&1 || [ $? -eq 1 ] # wrk --version prints its usage, exit 1
echo "$wanted" > "$stamp"
echo "$wrapper"
