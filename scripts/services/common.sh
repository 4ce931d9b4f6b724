# Shared settings of the development services (sourced by postgres.sh, kafka.sh, up.sh, down.sh).
# Every default can be overridden from the environment; docs/services.md lists them.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVICES_SCRIPTS="$REPO_ROOT/scripts/services"

# Data, logs and pid files of this checkout's private instances (gitignored).
SERVICES_DIR="${SERVICES_DIR:-$REPO_ROOT/.services}"
# Downloads shared by every checkout on the machine (the Kafka jars).
SERVICES_CACHE_DIR="${SERVICES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/balance-service}"

SERVICES_HOST=127.0.0.1
# Below the ephemeral range (32768-60999): an outgoing socket can hold a port in it.
PG_PORT="${PG_PORT:-25432}"
PG_DATABASE="${PG_DATABASE:-balance}"
PG_USER=postgres
KAFKA_PORT="${KAFKA_PORT:-29092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-29093}"
# The port clients are told to connect to: KAFKA_PORT, unless a test puts a proxy in front.
KAFKA_ADVERTISED_PORT="${KAFKA_ADVERTISED_PORT:-$KAFKA_PORT}"
KAFKA_VERSION=4.1.1
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# Seconds to wait for a started service to answer a real request.
SERVICES_READY_TIMEOUT_S="${SERVICES_READY_TIMEOUT_S:-60}"

BUN="$REPO_ROOT/node_modules/.bin/bun"

log() { echo "[services] $*" >&2; }
die() { echo "[services] error: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/$SERVICES_HOST/$1") 2>/dev/null
}

# The pid in file $1 when that process is alive, else nothing (and status 1).
live_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
