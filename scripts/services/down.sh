#!/usr/bin/env bash
# Stops this checkout's private services (Kafka, then PostgreSQL); their data stays in
# $SERVICES_DIR (./.services) for the next start. `make services-down` runs this; removing
# ./.services after it starts from nothing. Nothing else is touched.
set -euo pipefail
source "$(dirname "$0")/common.sh"

status=0
"$SERVICES_SCRIPTS/kafka.sh" down || status=1
"$SERVICES_SCRIPTS/postgres.sh" down || status=1
exit "$status"
