#!/usr/bin/env bash
# Installs the Debian packages the development services need, only those missing:
# PostgreSQL's server (`postgresql`), Java 17+ (`default-jre-headless`) and Maven; and
# `docker-compose`, which test/docker/compose.test.ts runs to validate docker/docker-compose.yml
# (no Docker engine: its recommended docker.io is left out).
# Through scripts/install-system-packages.sh, which uses sudo when not root.
# Usage: scripts/services/install.sh [postgres|kafka|compose]...   (all when none is named)
set -euo pipefail
source "$(dirname "$0")/common.sh"

java_major() {
  java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}

# Java 17 or newer on PATH (old ones report "1.8" and the like).
java_at_least_17() {
  local major
  command -v java >/dev/null 2>&1 || return 1
  major="$(java_major)"
  case "$major" in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ "$major" -ge 17 ]
}

missing=()
missing_without_recommends=()
want="${*:-postgres kafka compose}"
for part in $want; do
  case "$part" in
    postgres)
      if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then missing+=(postgresql); fi
      ;;
    kafka)
      if ! java_at_least_17; then missing+=(default-jre-headless); fi
      if ! command -v mvn >/dev/null 2>&1; then missing+=(maven); fi
      ;;
    compose)
      if ! command -v docker-compose >/dev/null 2>&1; then
        missing_without_recommends+=(docker-compose)
      fi
      ;;
    *) die "install.sh: unknown part '$part' (postgres, kafka or compose)" ;;
  esac
done

if [ "${#missing_without_recommends[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing_without_recommends[*]}"
  "$REPO_ROOT/scripts/install-system-packages.sh" --no-install-recommends \
    "${missing_without_recommends[@]}"
fi
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
log "installing Debian packages: ${missing[*]}"
"$REPO_ROOT/scripts/install-system-packages.sh" "${missing[@]}"
