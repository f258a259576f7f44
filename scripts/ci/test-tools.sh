#!/usr/bin/env bash
# The programs the test suite drives from outside, installed when missing (npm's `pretest`):
# kcat (an independent Kafka client), Prometheus (a real scraper) and Chromium (the inspector's
# browser test). Each installer is idempotent and returns at once when its program is present.
set -euo pipefail
cd "$(dirname "$0")"
bash kcat.sh
bash prometheus.sh
bash chromium.sh
