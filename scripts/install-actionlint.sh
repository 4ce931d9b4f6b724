#!/usr/bin/env bash
# Installs actionlint, the checker of .github/workflows/ that test/ci/workflows.test.ts runs, from
# the Go module proxy: `go install` of the pinned version below with GOBIN in the machine's cache,
# ~/.cache/balance-service/bin (ACTIONLINT_BIN_DIR to change it), shared by every checkout as the
# Kafka jars are. Prints the binary's path on stdout.
# Idempotent: a binary of the pinned version already there is reused (a few milliseconds);
# concurrent runs wait for one another (flock). Needs Go on PATH, recent enough for actionlint's
# go.mod (CI: actions/setup-go; elsewhere https://go.dev/dl). docs/ci.md says more.
#
#   scripts/install-actionlint.sh      installs when missing, prints e.g.
#                                      /root/.cache/balance-service/bin/actionlint
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint
BIN_DIR="${ACTIONLINT_BIN_DIR:-$HOME/.cache/balance-service/bin}"
BIN="$BIN_DIR/actionlint"

log() { echo "[actionlint] $*" >&2; }
die() { echo "[actionlint] error: $*" >&2; exit 1; }

# True when $BIN is there and reports the pinned version on its first line ("v1.7.12").
installed() {
  [ -x "$BIN" ] || return 1
  [ "$("$BIN" -version 2>/dev/null | head -n 1)" = "$ACTIONLINT_VERSION" ]
}

if installed; then echo "$BIN"; exit 0; fi

command -v go >/dev/null 2>&1 ||
  die "Go is not on PATH: install it (https://go.dev/dl; CI uses actions/setup-go) and rerun"
mkdir -p "$BIN_DIR"
exec 9>"$BIN_DIR/.actionlint.lock"
flock 9
# Another run may have installed it while this one waited for the lock.
if installed; then echo "$BIN"; exit 0; fi

log "installing $ACTIONLINT_MODULE@$ACTIONLINT_VERSION into $BIN_DIR (go install, $(go version))"
# Module mode outside any go.mod: nothing of a surrounding Go project is involved.
( cd "$BIN_DIR" && GOBIN="$BIN_DIR" GO111MODULE=on GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
  go install "$ACTIONLINT_MODULE@$ACTIONLINT_VERSION" ) >&2 ||
  die "go install $ACTIONLINT_MODULE@$ACTIONLINT_VERSION failed (see above)"
installed || die "$BIN does not report $ACTIONLINT_VERSION after go install: $("$BIN" -version 2>&1)"
echo "$BIN"
