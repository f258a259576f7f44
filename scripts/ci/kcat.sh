#!/usr/bin/env bash
# Installs kcat (the librdkafka command-line client), the independent Kafka client the e2e tests
# produce and consume with (test/support/kcat.ts). Idempotent: does nothing when kcat is already
# on PATH. Debian/Ubuntu only (apt); elsewhere it says what is missing and fails.
set -euo pipefail

if command -v kcat >/dev/null 2>&1; then
  echo "== kcat present: $(kcat -V 2>&1 | grep -m1 -o 'Version [^ ]*' || true)"
  exit 0
fi
# Older distributions ship the same tool as `kafkacat`.
if command -v kafkacat >/dev/null 2>&1; then
  echo "== kafkacat present; the tests call it through KCAT=$(command -v kafkacat)"
  exit 0
fi

source "$(dirname "$0")/lib/apt.sh"
apt_install kcat "install kcat (https://github.com/edenhill/kcat)"
command -v kcat >/dev/null 2>&1 || { echo "kcat installation failed" >&2; exit 1; }
echo "== kcat installed: $(kcat -V 2>&1 | grep -m1 -o 'Version [^ ]*' || true)"
