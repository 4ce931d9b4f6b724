#!/usr/bin/env bash
# Installs promtool (Prometheus's rule checker and rule unit-test runner) into
# ~/.cache/balance-service/bin (PROMTOOL_BIN_DIR to change it), from Debian's `prometheus` package:
# the .deb is downloaded with `apt-get download` (no root, nothing installed system-wide, no
# Prometheus service) and only usr/bin/promtool is taken out of it (scripts/deb_tool.sh).
# Idempotent: a promtool of the package version apt offers, already there, is kept; concurrent
# runs wait for one another. Prints the binary's path. test/monitoring/ calls it when promtool is
# missing, so `make test` on a fresh machine installs it. Fails loudly (exit 1, the reason) without
# apt-get or the package.
#
# Why Debian's and not `go install .../cmd/promtool`: the Go build downloads ~1 GB of modules and
# took 11 min on 2 cores (docs/monitoring.md, "Install"); the package is 19 MB and takes seconds.
set -euo pipefail
here="${BASH_SOURCE[0]%/*}" # no dirname: the no-apt test runs with an empty PATH
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
. "$here/deb_tool.sh"

BIN_DIR="${PROMTOOL_BIN_DIR:-$HOME/.cache/balance-service/bin}"
binary="$BIN_DIR/promtool"
stamp="$BIN_DIR/promtool.version"

deb_begin install-promtool prometheus "$binary" "$stamp"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-promtool: $DEB_WANTED into $BIN_DIR" >&2
deb_unpack "$work/root" prometheus
install -m 0755 "$work/root/usr/bin/promtool" "$binary"
"$binary" --version >/dev/null
echo "$DEB_WANTED" > "$stamp"
echo "$binary"
