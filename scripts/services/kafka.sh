#!/usr/bin/env bash
# A private Apache Kafka broker for development and tests: Kafka 4.1.1 in KRaft mode (one node that
# is broker and controller), jars from Maven Central through scripts/services/pom.xml, Java 17+.
# Listens on 127.0.0.1:$KAFKA_PORT (clients) and 127.0.0.1:$KAFKA_CONTROLLER_PORT (controller),
# advertises 127.0.0.1:$KAFKA_ADVERTISED_PORT (KAFKA_PORT by default; a fault test's proxy);
# data in $SERVICES_DIR/kafka; the jars cached in $SERVICES_CACHE_DIR/kafka-4.1.1/libs.
#
#   scripts/services/kafka.sh up       install Java/Maven if missing, fetch the jars once, format
#                                      once, start or reuse; waits for a metadata round trip,
#                                      prints KAFKA_BROKERS=...
#   scripts/services/kafka.sh down     stops it (SIGTERM, a controlled shutdown); the data stays
#   scripts/services/kafka.sh status   prints KAFKA_BROKERS=... and exits 0 when it answers
set -euo pipefail
source "$(dirname "$0")/common.sh"

KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_DATA_DIR="$KAFKA_DIR/data"
KAFKA_PID_FILE="$KAFKA_DIR/kafka.pid"
KAFKA_LOG_FILE="$KAFKA_DIR/kafka.log"
KAFKA_LIBS_DIR="$SERVICES_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
KAFKA_POM="$SERVICES_SCRIPTS/pom.xml"

# What clients connect to: the advertised port (KAFKA_PORT unless a proxy stands in front).
brokers() {
  echo "$SERVICES_HOST:$KAFKA_ADVERTISED_PORT"
}

java_ok() {
  command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 || return 1
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  case "$major" in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ "$major" -ge 17 ]
}

# The broker's classpath, once per pom: a stamp holds the pom's checksum.
fetch_jars() {
  local stamp="$KAFKA_LIBS_DIR/.pom.cksum" sum
  sum="$(cksum <"$KAFKA_POM")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return; fi
  log "fetching the Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS_DIR"
  local staging="$KAFKA_LIBS_DIR.tmp.$$"
  rm -rf "$staging"
  mvn -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$staging" >"$KAFKA_DIR/mvn.log" 2>&1 ||
    { tail -n 60 "$KAFKA_DIR/mvn.log" >&2; rm -rf "$staging"; die "mvn could not fetch the Kafka jars"; }
  ls "$staging"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing"
  echo "$sum" >"$staging/.pom.cksum"
  rm -rf "$KAFKA_LIBS_DIR"
  mv "$staging" "$KAFKA_LIBS_DIR"
}

# The java command line of the broker and its tools, in JAVA_CMD.
java_command() {
  local -a heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  JAVA_CMD=(java "${heap[@]}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$SERVICES_SCRIPTS/log4j2.properties" -cp "$KAFKA_LIBS_DIR/*")
}

java_run() {
  java_command
  "${JAVA_CMD[@]}" "$@"
}

write_config() {
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by scripts/services/kafka.sh at each start: a single KRaft node for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$SERVICES_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$SERVICES_HOST:$KAFKA_PORT,CONTROLLER://$SERVICES_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$SERVICES_HOST:$KAFKA_ADVERTISED_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA_DIR
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
}

# Formats the storage once, with a cluster id kept beside the data.
format_storage() {
  if [ -f "$KAFKA_DATA_DIR/meta.properties" ]; then return; fi
  local cluster_id
  if [ ! -s "$KAFKA_DIR/cluster.id" ]; then
    java_run kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id" 2>>"$KAFKA_LOG_FILE" ||
      die "StorageTool random-uuid failed (see $KAFKA_LOG_FILE)"
  fi
  cluster_id="$(tr -d '[:space:]' <"$KAFKA_DIR/cluster.id")"
  log "formatting Kafka storage in $KAFKA_DATA_DIR (cluster $cluster_id)"
  java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
    >>"$KAFKA_LOG_FILE" 2>&1 || { tail -n 40 "$KAFKA_LOG_FILE" >&2; die "StorageTool format failed"; }
}

start() {
  local pid
  if pid="$(live_pid "$KAFKA_PID_FILE")"; then
    [ "$(cat "$KAFKA_DIR/port" 2>/dev/null)" = "$KAFKA_PORT" ] ||
      die "the Kafka broker in $KAFKA_DIR (pid $pid) runs on another port than $KAFKA_PORT: run down first"
    return
  fi
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port $port is taken by another process: stop it, or set KAFKA_PORT and KAFKA_CONTROLLER_PORT (or KAFKA_BROKERS)"
    fi
  done
  write_config
  format_storage
  log "starting Kafka $KAFKA_VERSION on $(brokers) (controller :$KAFKA_CONTROLLER_PORT, $KAFKA_DIR)"
  echo "--- start $(date -u +%FT%TZ)" >>"$KAFKA_LOG_FILE"
  # Its own session, no terminal and no inherited pipes: `make test | tee` must not wait for it.
  java_command
  setsid "${JAVA_CMD[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" </dev/null >>"$KAFKA_LOG_FILE" 2>&1 &
  echo $! >"$KAFKA_PID_FILE"
  echo "$KAFKA_PORT" >"$KAFKA_DIR/port"
}

# A real round trip: the port first (cheap), then a metadata request through kafkajs.
wait_ready() {
  local deadline=$((SECONDS + SERVICES_READY_TIMEOUT_S))
  until port_open "$KAFKA_PORT"; do
    if ! live_pid "$KAFKA_PID_FILE" >/dev/null; then
      tail -n 60 "$KAFKA_LOG_FILE" >&2 || true
      die "the Kafka broker exited during start-up (log: $KAFKA_LOG_FILE)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 60 "$KAFKA_LOG_FILE" >&2 || true
      die "Kafka did not listen on $(brokers) in ${SERVICES_READY_TIMEOUT_S}s (log: $KAFKA_LOG_FILE)"
    fi
    sleep 0.2
  done
  [ -x "$BUN" ] || die "$BUN is missing: run make install"
  "$BUN" "$SERVICES_SCRIPTS/kafka_ready.ts" "$(brokers)" "$((deadline - SECONDS + 1))" >&2 ||
    { tail -n 60 "$KAFKA_LOG_FILE" >&2 || true; die "Kafka did not answer a metadata request"; }
}

up() {
  mkdir -p "$KAFKA_DIR"
  java_ok || "$SERVICES_SCRIPTS/install.sh" kafka
  java_ok || die "Java 17+ and Maven are needed: $(java -version 2>&1 | head -n 1)"
  fetch_jars
  start
  wait_ready
  echo "KAFKA_BROKERS=$(brokers)"
}

down() {
  local pid waited=0
  pid="$(live_pid "$KAFKA_PID_FILE")" || { rm -f "$KAFKA_PID_FILE"; return 0; }
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 300 ]; then
      log "Kafka did not stop in 30s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$KAFKA_PID_FILE"
}

status() {
  live_pid "$KAFKA_PID_FILE" >/dev/null || die "no Kafka broker of this checkout runs ($KAFKA_DIR)"
  port_open "$KAFKA_PORT" || die "nothing listens on $(brokers)"
  echo "KAFKA_BROKERS=$(brokers)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
