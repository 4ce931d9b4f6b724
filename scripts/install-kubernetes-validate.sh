#!/usr/bin/env bash
# Installs kubernetes-validate (PyPI: validates manifests against the Kubernetes API's JSON schemas,
# offline: the schemas ship inside the package) into a virtualenv under ~/.cache/balance-service
# (KUBERNETES_VALIDATE_VENV to change it), at the pinned version below. Idempotent: a venv holding
# that version is kept. Prints the path of its kubernetes-validate command.
# test/deploy/ calls it when the command is missing, so `make test` on a fresh machine installs it;
# it needs python3 with the venv module and PyPI. Fails loudly (exit 1) otherwise.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
VENV="${KUBERNETES_VALIDATE_VENV:-$HOME/.cache/balance-service/kubernetes-validate}"
command_path="$VENV/bin/kubernetes-validate"
stamp="$VENV/kubernetes-validate.version"

installed="$(cat "$stamp" 2>/dev/null || true)"
if [ -x "$command_path" ] && [ "$installed" = "$KUBERNETES_VALIDATE_VERSION" ]; then
  echo "$command_path"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "install-kubernetes-validate: python3 is not installed" >&2
  exit 1
fi
started_s=$(date +%s)
echo "install-kubernetes-validate: $KUBERNETES_VALIDATE_VERSION into $VENV" >&2
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
"$command_path" --version >/dev/null
echo "$KUBERNETES_VALIDATE_VERSION" > "$stamp"
echo "install-kubernetes-validate: done in $(( $(date +%s) - started_s )) s" >&2
echo "$command_path"
