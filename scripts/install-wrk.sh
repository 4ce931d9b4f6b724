#!/usr/bin/env bash
# Prints the path of a wrk (the HTTP load tool issue 9's HTTP JSON figure is measured with), for
# `make benchmark` (bench/suite.ts). A wrk on PATH is used as it is. Otherwise Debian's `wrk`
# package and its LuaJIT libraries are downloaded with `apt-get download` (no root, nothing
# installed system-wide; scripts/deb_tool.sh) and unpacked into ~/.cache/balance-service/wrk
# (WRK_DIR to change it), with a wrapper that points the binary at those libraries. Idempotent: an
# unpacked wrk of the package version apt offers is kept; concurrent runs wait for one another.
# Fails loudly (exit 1, the reason) without apt-get or the packages.
set -euo pipefail
here="${BASH_SOURCE[0]%/*}" # no dirname: the no-apt test runs with an empty PATH
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
. "$here/deb_tool.sh"

if command -v wrk >/dev/null 2>&1; then
  command -v wrk
  exit 0
fi
DIR="${WRK_DIR:-$HOME/.cache/balance-service/wrk}"
wrapper="$DIR/wrk"
stamp="$DIR/wrk.version"

deb_begin install-wrk wrk "$wrapper" "$stamp"
echo "install-wrk: $DEB_WANTED into $DIR" >&2
rm -rf "$DIR/root"
deb_unpack "$DIR/root" wrk libluajit-5.1-2 libluajit-5.1-common
libs=$(dirname "$(find "$DIR/root" -name 'libluajit-5.1.so.2*' | head -1)")
cat > "$wrapper" <<WRAPPER
#!/bin/sh
# Debian's wrk, unpacked by scripts/install-wrk.sh, with the LuaJIT it was built against.
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$DIR/root/usr/bin/wrk" "\$@"
WRAPPER
chmod 0755 "$wrapper"
"$wrapper" --version >/dev/null 2>&1 || [ $? -eq 1 ] # wrk --version prints its usage, exit 1
echo "$DEB_WANTED" > "$stamp"
echo "$wrapper"
