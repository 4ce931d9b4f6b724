#!/usr/bin/env bash
# Installs promtool (Prometheus's rule checker and rule unit-test runner) from the Go module proxy
# into ~/.cache/balance-service/bin (PROMTOOL_BIN_DIR to change it), built from the pinned release
# below. Idempotent: a promtool of that version already there is kept, and concurrent runs wait for
# one another (flock). Prints the binary's path.
# test/monitoring/ calls it when promtool is missing, so `make test` on a fresh machine installs it;
# it needs Go (>= the module's go directive) and the proxy. Fails loudly (exit 1) otherwise.
set -euo pipefail

# Prometheus 3.16.0 (its Go module is tagged v0.3xx.y for Prometheus 3.xx.y).
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
# Prometheus's own build tag that leaves every service-discovery plugin out (plugins/*.go): rule
# checks and rule unit tests need none, and without it a fresh build downloads ~1.8 GB of cloud and
# Kubernetes SDKs and compiles them (over 18 minutes on 2 cores: docs/monitoring.md).
PROMTOOL_BUILD_TAGS="remove_all_sd"
BIN_DIR="${PROMTOOL_BIN_DIR:-$HOME/.cache/balance-service/bin}"
binary="$BIN_DIR/promtool"
stamp="$BIN_DIR/promtool.version"
wanted="$PROMETHEUS_MODULE_VERSION $PROMTOOL_BUILD_TAGS"

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
if ! command -v go >/dev/null 2>&1; then
  echo "install-promtool: go is not installed; promtool is built from the Go module proxy" >&2
  exit 1
fi
started_s=$(date +%s)
echo "install-promtool: building promtool $PROMETHEUS_MODULE_VERSION into $BIN_DIR" >&2
# Nothing of the repository's own modules is involved: module mode, outside any go.mod.
( cd "$BIN_DIR" && GOBIN="$BIN_DIR" GO111MODULE=on GOFLAGS="${GOFLAGS:-} -trimpath" \
  go install -tags "$PROMTOOL_BUILD_TAGS" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" ) >&2
"$binary" --version >/dev/null
echo "$wanted" > "$stamp"
echo "install-promtool: done in $(( $(date +%s) - started_s )) s" >&2
echo "$binary"
