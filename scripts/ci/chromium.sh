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

source "$(dirname "$0")/lib/apt.sh"
apt_install chromium "install Chromium and set CHROMIUM=<its path>"
command -v chromium >/dev/null 2>&1 || { echo "chromium installation failed" >&2; exit 1; }
echo "== chromium installed: $(chromium --version 2>/dev/null || true)"
