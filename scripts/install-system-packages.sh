#!/usr/bin/env bash
# Installs Debian packages the project needs (flatc for the schema test). Uses sudo when not root.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq "$@"
