#!/usr/bin/env bash
# Installs kustomize (renders deploy/k8s/ as Kubernetes applies it) from the Go module proxy into
# ~/.cache/balance-service/bin (KUSTOMIZE_BIN_DIR to change it), built from the pinned release
# below. Idempotent: a kustomize of that version already there is kept. Prints the binary's path.
# test/deploy/ calls it when kustomize is missing, so `make test` on a fresh machine installs it;
# it needs Go (>= the module's go directive) and the proxy. Fails loudly (exit 1) otherwise.
# A cold build took 350 s (2 min 7 s of CPU) on the 2-core development machine while others built
# too (docs/deploy.md, "How the manifests are checked").
set -euo pipefail

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
BIN_DIR="${KUSTOMIZE_BIN_DIR:-$HOME/.cache/balance-service/bin}"
binary="$BIN_DIR/kustomize"
stamp="$BIN_DIR/kustomize.version"

if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; then
  echo "$binary"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-kustomize: go is not installed; kustomize is built from the Go module proxy" >&2
  exit 1
fi
mkdir -p "$BIN_DIR"
started_s=$(date +%s)
echo "install-kustomize: building kustomize $KUSTOMIZE_VERSION into $BIN_DIR" >&2
# Nothing of the repository's own modules is involved: module mode, outside any go.mod.
( cd "$BIN_DIR" && GOBIN="$BIN_DIR" GO111MODULE=on GOFLAGS="${GOFLAGS:-} -trimpath" \
  go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" ) >&2
"$binary" version >/dev/null
echo "$KUSTOMIZE_VERSION" > "$stamp"
echo "install-kustomize: done in $(( $(date +%s) - started_s )) s" >&2
echo "$binary"
