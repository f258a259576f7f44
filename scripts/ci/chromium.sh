#!/usr/bin/env bash
# Installs Chromium, the real browser the inspector page's e2e test drives headless through
# playwright-core (test/e2e/inspector.test.ts); playwright's own bundled browsers are not used.
# Idempotent: does nothing when chromium is already on PATH. Debian/Ubuntu only (apt); elsewhere
# it says what is missing and fails.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "== chromium present: $(chromium --version 2>/dev/null || true)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing and apt-get is unavailable: install Chromium and set CHROMIUM=<its path>" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "== installing chromium"
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first; refresh once only if the package is unknown.
if ! $SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y --no-install-recommends chromium >/dev/null
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium installation failed" >&2; exit 1; }
echo "== chromium installed: $(chromium --version 2>/dev/null || true)"
