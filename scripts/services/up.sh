#!/usr/bin/env bash
# Starts (or reuses) the development services and prints where they are, one per line:
#   DATABASE_URL=postgres://postgres@127.0.0.1:25432/balance
#   KAFKA_BROKERS=127.0.0.1:29092
# A service whose variable is already set (DATABASE_URL, KAFKA_BROKERS) is taken as it is and not
# started. Progress goes to stderr, so `eval "$(scripts/services/up.sh)"` works; `export` it to use.
# Idempotent: a running instance is reused after a real round trip. make services runs this.
set -euo pipefail
source "$(dirname "$0")/common.sh"

if [ -n "${DATABASE_URL:-}" ]; then
  log "PostgreSQL: using DATABASE_URL from the environment"
  echo "DATABASE_URL=$DATABASE_URL"
else
  "$SERVICES_SCRIPTS/postgres.sh" up
fi

if [ -n "${KAFKA_BROKERS:-}" ]; then
  log "Kafka: using KAFKA_BROKERS from the environment"
  echo "KAFKA_BROKERS=$KAFKA_BROKERS"
else
  "$SERVICES_SCRIPTS/kafka.sh" up
fi
