#!/usr/bin/env bash
# Stop the dev/test Kafka broker started by scripts/kafka/up.sh on KAFKA_PORT
# (default 9092) and remove its state (data, config, log) in .kafka/<port>/.
# SIGTERM first (controlled shutdown), SIGKILL after KAFKA_STOP_TIMEOUT seconds (30).
# The jar cache in ~/.cache/turnvault is kept.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${KAFKA_PORT:-9092}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
STATE="$ROOT/.kafka/$PORT"
PIDFILE="$STATE/kafka.pid"
PROPS="$STATE/server.properties"

log() { printf '[kafka:down] %s\n' "$*" >&2; }

[[ "$PORT" =~ ^[0-9]+$ ]] || { log "ERROR: KAFKA_PORT must be a number"; exit 1; }
mkdir -p "$ROOT/.kafka"
exec 9>"$ROOT/.kafka/$PORT.lock"
flock -w 300 9 || { log "ERROR: timed out waiting for $ROOT/.kafka/$PORT.lock"; exit 1; }

pid=""
if [[ -s "$PIDFILE" ]]; then
  candidate="$(cat "$PIDFILE")"
  if [[ "$candidate" =~ ^[0-9]+$ ]] && kill -0 "$candidate" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$candidate/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS"; then
    pid="$candidate"
  fi
fi

if [[ -n "$pid" ]]; then
  log "stopping Kafka broker pid $pid (port $PORT)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  log "stopped"
else
  log "no running broker started by up.sh on port $PORT"
fi

rm -rf "$STATE"
