#!/usr/bin/env bash
# Start (or reuse) a REAL single-node Apache Kafka broker in KRaft combined mode
# (broker+controller in one JVM) on loopback, for development, tests and CI.
#
#   npm run kafka:up                 # -> prints 127.0.0.1:9092 as the last stdout line
#   KAFKA_PORT=19092 npm run kafka:up
#
# - Kafka's jars come from Maven Central via `mvn dependency:copy-dependencies`
#   (scripts/kafka/pom.xml), cached in ~/.cache/turnvault/kafka-<version>/libs
#   and reused between runs and between clones.
# - Version: scripts/kafka/VERSION (the only place it is pinned).
# - State (config, data, log, pid) lives in <repo>/.kafka/<port>/ (gitignored).
# - Idempotent and safe to run concurrently: a flock on .kafka/<port>.lock
#   serialises callers; a broker already started by us on that port is reused.
#   The state of one that stopped without down.sh is removed, unless
#   KAFKA_KEEP_DATA=1: then it is started again on its data.
# - Only the bootstrap address goes to stdout; progress goes to stderr.
#
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_KEEP_DATA=1
#      (restart a stopped broker on its data instead of removing it: broker restarts),
#      KAFKA_START_TIMEOUT seconds (120), KAFKA_HEAP_OPTS (-Xms256m -Xmx512m),
#      TURNVAULT_CACHE_DIR (~/.cache/turnvault), JAVA_HOME.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VERSION="$(tr -d '[:space:]' <"$HERE/VERSION")"
HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
CACHE_ROOT="${TURNVAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/turnvault}"
CACHE="$CACHE_ROOT/kafka-$VERSION"
LIBS="$CACHE/libs"
STATE="$ROOT/.kafka/$PORT"
PIDFILE="$STATE/kafka.pid"
LOG="$STATE/kafka.log"
PROPS="$STATE/server.properties"
DATA="$STATE/data"
ADDR="$HOST:$PORT"

log() { printf '[kafka:up] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

[[ "$PORT" =~ ^[0-9]+$ && "$CPORT" =~ ^[0-9]+$ ]] || die "KAFKA_PORT/KAFKA_CONTROLLER_PORT must be numbers"
[[ "$PORT" != "$CPORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v "$JAVA" >/dev/null || die "java not found (need Java 17+)"
command -v flock >/dev/null || die "flock not found (util-linux)"

# --- serialise concurrent invocations for this port --------------------------
mkdir -p "$ROOT/.kafka"
exec 9>"$ROOT/.kafka/$PORT.lock"
flock -w 900 9 || die "timed out waiting for $ROOT/.kafka/$PORT.lock"

# pid of our broker for this port if it is alive, else nothing.
our_pid() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: it must be kafka.Kafka started with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Readiness: kafkajs Metadata shows an (unfenced) broker and a controller.
# Falls back to the broker's own "started" log line when kafkajs is missing
# (e.g. a fresh clone before `npm ci`).
if command -v node >/dev/null && (cd "$ROOT" && node -e 'require.resolve("kafkajs")') >/dev/null 2>&1; then
  probe() { node "$HERE/probe.mjs" "$ADDR" >/dev/null 2>&1; }
else
  probe() { port_open "$PORT" && grep -q 'Kafka Server started' "$LOG" 2>/dev/null; }
fi

wait_ready() {
  local pid="$1" deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker process $pid exited during startup; last log lines ($LOG):"
      tail -n 40 "$LOG" >&2 || true
      rm -f "$PIDFILE"
      return 1
    fi
    if probe; then return 0; fi
    sleep 0.5
  done
  log "broker $pid did not become ready within ${TIMEOUT}s; last log lines ($LOG):"
  tail -n 40 "$LOG" >&2 || true
  return 1
}

# --- reuse a broker we already started ----------------------------------------
if pid="$(our_pid)"; then
  log "reusing Kafka $VERSION broker (pid $pid) at $ADDR"
  wait_ready "$pid" || die "running broker (pid $pid) is not answering; run 'npm run kafka:down' and retry"
  echo "$ADDR"
  exit 0
fi

if [[ -e "$STATE" && "${KAFKA_KEEP_DATA:-}" != "1" ]]; then
  log "removing stale state in $STATE (no live broker)"
  rm -rf "$STATE"
fi
for p in "$PORT" "$CPORT"; do
  port_open "$p" && die "port $p on $HOST is already in use by something that is not a broker started by this script (no live pid in $PIDFILE); stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
done

# --- fetch the jars (once per version + pom) ----------------------------------
POM_SUM="$(cat "$HERE/pom.xml" "$HERE/VERSION" | sha256sum | cut -d' ' -f1)"
libs_ok() { [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "$POM_SUM" ]]; }
if ! libs_ok; then
  mkdir -p "$CACHE_ROOT"
  exec 8>"$CACHE.lock"
  flock -w 1800 8 || die "timed out waiting for $CACHE.lock"
  if ! libs_ok; then
    command -v mvn >/dev/null || die "mvn not found (Maven is needed once to fetch Kafka's jars)"
    log "fetching Apache Kafka $VERSION jars from Maven Central into $LIBS (one-time)"
    tmp="$CACHE/libs.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if ! mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" -Dkafka.version="$VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 |
      sed 's/\x1b\[[0-9;]*m//g' >&2; then # (Maven 3.8 emits colour codes even with -B -q)
      rm -rf "$tmp"
      die "maven could not fetch Kafka $VERSION"
    fi
    ls "$tmp"/kafka_2.13-"$VERSION".jar >/dev/null 2>&1 || die "kafka_2.13-$VERSION.jar missing after fetch"
    echo "$POM_SUM" >"$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
  fi
  flock -u 8
  exec 8>&-
fi

# --- configure, format and start -----------------------------------------------
mkdir -p "$DATA" "$STATE/logs"
cat >"$PROPS" <<EOF
# Generated by scripts/kafka/up.sh (Kafka $VERSION) - single-node KRaft, dev/test only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CPORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CPORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
# Topics are created explicitly by the application/tests; a typo must fail
# loudly instead of silently creating a 1-partition topic. (Internal topics
# such as __consumer_offsets are still created on demand by the broker.)
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Small machine (2 cores): keep thread pools small.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.retention.hours=24
EOF

new_cluster_id() {
  # 16 random bytes, base64url without padding (Kafka's Uuid format); avoid a
  # leading '-' so it is never taken for a command-line option.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && break
  done
  echo "$id"
}

JVM_OPTS=(
  $HEAP_OPTS
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$HERE/log4j2.properties"
  "-Dkafka.logs.dir=$STATE/logs"
)

if [[ -f "$DATA/meta.properties" ]]; then
  # KAFKA_KEEP_DATA=1 and a broker of this port stopped without down.sh: restart it on its data
  log "restarting on the formatted storage in $DATA"
  # the readiness fallback greps the log for this start's "started" line, not the last one's
  [[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.previous"
else
  CLUSTER_ID="$(new_cluster_id)"
  log "formatting storage in $DATA (cluster id $CLUSTER_ID)"
  # (C1-only JIT: this JVM lives ~1 s, so it starts faster.)
  if ! "$JAVA" "${JVM_OPTS[@]}" -XX:TieredStopAtLevel=1 -cp "$LIBS/*" kafka.tools.StorageTool \
    format --cluster-id "$CLUSTER_ID" --config "$PROPS" >>"$LOG" 2>&1 9>&-; then
    tail -n 40 "$LOG" >&2 || true
    die "kafka-storage format failed"
  fi
fi

log "starting Kafka $VERSION broker at $ADDR (controller $HOST:$CPORT), log: $LOG"
# A broker stopped without down.sh (a restart on kept data) leaves its pid file:
# remove it, or the wait below could read the dead broker's pid.
rm -f "$PIDFILE"
# setsid: own session, so the broker outlives the caller's process group
# (npm, vitest). fd 9 (our lock) must not leak into the broker, or it would
# hold the lock forever; stdio must not hold the caller's pipes open.
setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
  "$JAVA" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS" \
  </dev/null >>"$LOG" 2>&1 9>&-
# (setsid -f returns before its child runs; on a loaded 2-core machine the
# child can take seconds to be scheduled, so wait generously.)
pid=""
for _ in $(seq 1 300); do
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && break
  sleep 0.1
done
[[ "$pid" =~ ^[0-9]+$ ]] || {
  tail -n 40 "$LOG" >&2 || true
  die "broker did not write its pid file $PIDFILE within 30s"
}

start=$SECONDS
wait_ready "$pid" || die "Kafka broker failed to start"
log "Kafka $VERSION ready at $ADDR (pid $pid) after $((SECONDS - start))s"
echo "$ADDR"
