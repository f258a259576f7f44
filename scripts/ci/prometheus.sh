#!/usr/bin/env bash
# Installs Prometheus and promtool (Debian's `prometheus` package), which
# test/integration/prometheus.test.ts runs as a real server against turnvault's /metrics.
# Idempotent: does nothing when both binaries are on PATH. The package's own service is not
# needed (the test starts Prometheus on a free loopback port with a temporary config) and is
# stopped if the package manager started it. Debian/Ubuntu only (apt).
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  echo "== prometheus present: $(prometheus --version 2>&1 | head -n1)"
  exit 0
fi

source "$(dirname "$0")/lib/apt.sh"
apt_install prometheus "install prometheus and promtool"
# Where systemd started the packaged service, stop it: it would hold port 9090 for nothing.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  as_root systemctl stop prometheus || true
fi
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 ||
  { echo "prometheus installation failed" >&2; exit 1; }
echo "== prometheus installed: $(prometheus --version 2>&1 | head -n1)"
