#!/usr/bin/env bash
# Installs promtool (Prometheus's rule checker and rule unit-test runner) into
# ~/.cache/balance-service/bin (PROMTOOL_BIN_DIR to change it), from Debian's `prometheus` package:
# the .deb is downloaded with `apt-get download` (no root, nothing installed system-wide, no
# Prometheus service) and only usr/bin/promtool is taken out of it. Idempotent: a promtool of the
# package version apt offers, already there, is kept; concurrent runs wait for one another.
# Prints the binary's path. test/monitoring/ calls it when promtool is missing, so `make test` on a
# fresh machine installs it. Fails loudly (exit 1, the reason) without apt-get or the package.
#
# Why Debian's and not `go install .../cmd/promtool`: the Go build downloads ~1 GB of modules and
# took 11 min on 2 cores (docs/monitoring.md, "Install"); the package is 19 MB and takes seconds.
set -euo pipefail

BIN_DIR="${PROMTOOL_BIN_DIR:-$HOME/.cache/balance-service/bin}"
binary="$BIN_DIR/promtool"
stamp="$BIN_DIR/promtool.version"

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  echo "install-promtool: apt-get and dpkg are needed (promtool comes from Debian's prometheus" \
    "package)" >&2
  exit 1
fi
wanted="debian prometheus $(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [ "$wanted" = "debian prometheus " ] || [ "$wanted" = "debian prometheus (none)" ]; then
  echo "install-promtool: apt offers no prometheus package (apt-get update first?)" >&2
  exit 1
fi

installed() { [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; }
if installed; then
  echo "$binary"
  exit 0
fi
mkdir -p "$BIN_DIR"
exec 9>"$BIN_DIR/.promtool.lock"
flock 9
if installed; then
  echo "$binary"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-promtool: $wanted into $BIN_DIR" >&2
( cd "$work" && apt-get download prometheus >&2 )
dpkg -x "$work"/prometheus_*.deb "$work/root"
install -m 0755 "$work/root/usr/bin/promtool" "$binary"
"$binary" --version >/dev/null
echo "$wanted" > "$stamp"
echo "$binary"
