#!/usr/bin/env bash
# A private PostgreSQL server for development and tests, from Debian's packages: its own data
# directory ($SERVICES_DIR/postgres), listening on 127.0.0.1:$PG_PORT only (no Unix socket), trust
# authentication for 127.0.0.1 and nothing else, database $PG_DATABASE, superuser `postgres`.
#
#   scripts/services/postgres.sh up       install if missing, initialise once, start or reuse;
#                                         waits for `select 1`, prints DATABASE_URL=...
#   scripts/services/postgres.sh down     stops it (fast shutdown); the data stays
#   scripts/services/postgres.sh status   prints DATABASE_URL=... and exits 0 when it answers
#
# initdb and the server refuse to run as root: as root they run as the `postgres` system user
# (Debian's package makes it; created here when missing), otherwise as the calling user.
set -euo pipefail
source "$(dirname "$0")/common.sh"

PG_DATA_DIR="${PG_DATA_DIR:-$SERVICES_DIR/postgres}"
PG_RUN_USER=""

database_url() {
  echo "postgres://$PG_USER@$SERVICES_HOST:$PG_PORT/$PG_DATABASE"
}

# PG_BIN: the newest installed server's binaries unless given.
find_pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then return; fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] || return 1
  PG_BIN="$dir"
}

# Runs a command as the user that owns the data directory.
as_pg_user() {
  if [ -z "$PG_RUN_USER" ]; then
    "$@"
  else
    runuser -u "$PG_RUN_USER" -- "$@"
  fi
}

choose_run_user() {
  if [ "$(id -u)" -ne 0 ]; then return; fi
  PG_RUN_USER="${PG_RUN_USER_AS_ROOT:-postgres}"
  if ! id "$PG_RUN_USER" >/dev/null 2>&1; then
    log "creating system user $PG_RUN_USER to run PostgreSQL (it refuses to run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_RUN_USER"
  fi
}

fallback_data_dir() {
  echo "/var/tmp/balance-service-$(printf '%s' "$PG_DATA_DIR" | cksum | cut -d' ' -f1)/postgres"
}

# As root, the data directory must be reachable by PG_RUN_USER: a checkout under a private home
# directory is not, so the data then lives under /var/tmp instead (said in the log).
choose_data_dir() {
  mkdir -p "$PG_DATA_DIR"
  if [ -z "$PG_RUN_USER" ]; then return; fi
  chown "$PG_RUN_USER" "$PG_DATA_DIR"
  if runuser -u "$PG_RUN_USER" -- test -w "$PG_DATA_DIR" -a -x "$PG_DATA_DIR"; then return; fi
  local fallback
  fallback="$(fallback_data_dir)"
  log "$PG_RUN_USER cannot reach $PG_DATA_DIR; using $fallback"
  rmdir "$PG_DATA_DIR" 2>/dev/null || true
  PG_DATA_DIR="$fallback"
  mkdir -p "$PG_DATA_DIR"
  chmod 755 "$(dirname "$PG_DATA_DIR")"
  chown "$PG_RUN_USER" "$PG_DATA_DIR"
}

initialise() {
  if [ -f "$PG_DATA_DIR/PG_VERSION" ]; then return; fi
  log "initialising a PostgreSQL cluster in $PG_DATA_DIR"
  as_pg_user "$PG_BIN/initdb" -D "$PG_DATA_DIR" -U "$PG_USER" --auth=trust -E UTF8 --no-locale \
    >"$SERVICES_DIR/postgres-initdb.log" 2>&1 ||
    { cat "$SERVICES_DIR/postgres-initdb.log" >&2; die "initdb failed"; }
  as_pg_user tee -a "$PG_DATA_DIR/postgresql.conf" >/dev/null <<'EOF'

# Development and test instance (scripts/services/postgres.sh); the port is given at start.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
EOF
  as_pg_user tee "$PG_DATA_DIR/pg_hba.conf" >/dev/null <<'EOF'
# Development and test instance: trust on 127.0.0.1 only; no Unix socket, no other address.
host all all 127.0.0.1/32 trust
EOF
}

running_port() {
  sed -n 4p "$PG_DATA_DIR/postmaster.pid" 2>/dev/null
}

is_running() {
  [ -f "$PG_DATA_DIR/PG_VERSION" ] && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" status >/dev/null 2>&1
}

psql_at() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SERVICES_HOST" -p "$PG_PORT" -U "$PG_USER" -At "$@"
}

# A real round trip: pg_isready until it accepts connections, then `select 1`.
wait_ready() {
  local deadline=$((SECONDS + SERVICES_READY_TIMEOUT_S))
  until "$PG_BIN/pg_isready" -q -h "$SERVICES_HOST" -p "$PG_PORT" -t 1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$PG_DATA_DIR/server.log" >&2 || true
      die "PostgreSQL on $SERVICES_HOST:$PG_PORT did not accept connections in ${SERVICES_READY_TIMEOUT_S}s"
    fi
    sleep 0.2
  done
  [ "$(psql_at -d postgres -c 'select 1')" = "1" ] || die "PostgreSQL answered, but not 1 to select 1"
}

ensure_database() {
  local exists
  exists="$(psql_at -d postgres -c "select 1 from pg_database where datname = '$PG_DATABASE'")"
  if [ "$exists" = "1" ]; then return; fi
  psql_at -d postgres -c "create database \"$PG_DATABASE\"" >/dev/null
}

start() {
  if is_running; then
    local port
    port="$(running_port)"
    [ "$port" = "$PG_PORT" ] ||
      die "the PostgreSQL in $PG_DATA_DIR runs on port $port, not $PG_PORT: run down first"
    return
  fi
  if port_open "$PG_PORT"; then
    die "port $PG_PORT is taken by another process: stop it, or set PG_PORT (or DATABASE_URL)"
  fi
  log "starting PostgreSQL on $SERVICES_HOST:$PG_PORT ($PG_DATA_DIR)"
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PG_DATA_DIR/server.log" -w \
    -t "$SERVICES_READY_TIMEOUT_S" -o "-p $PG_PORT" start >/dev/null ||
    { tail -n 40 "$PG_DATA_DIR/server.log" >&2 || true; die "pg_ctl start failed"; }
}

up() {
  mkdir -p "$SERVICES_DIR"
  find_pg_bin || "$SERVICES_SCRIPTS/install.sh" postgres
  find_pg_bin || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin after installing"
  choose_run_user
  choose_data_dir
  initialise
  start
  wait_ready
  ensure_database
  echo "DATABASE_URL=$(database_url)"
}

down() {
  find_pg_bin || return 0
  choose_run_user
  if [ ! -f "$PG_DATA_DIR/PG_VERSION" ]; then PG_DATA_DIR="$(fallback_data_dir)"; fi
  [ -f "$PG_DATA_DIR/PG_VERSION" ] || return 0
  if ! is_running; then return 0; fi
  log "stopping PostgreSQL ($PG_DATA_DIR)"
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -m fast -w -t 60 stop >/dev/null
}

status() {
  find_pg_bin || die "PostgreSQL is not installed"
  "$PG_BIN/pg_isready" -q -h "$SERVICES_HOST" -p "$PG_PORT" -t 1 ||
    die "no PostgreSQL answers on $SERVICES_HOST:$PG_PORT"
  echo "DATABASE_URL=$(database_url)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
