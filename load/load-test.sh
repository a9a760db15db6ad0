#!/usr/bin/env bash
# Load test with the defaults of `npm run load` (100 logs/s for 60 s against http://127.0.0.1:8080),
# overridable by environment: RATE, DURATION, URL, API_KEY, BATCH; further flags are passed through.
#   ./load/load-test.sh
#   RATE=500 ./load/load-test.sh
#   RATE=5000 BATCH=10 DURATION=30 ./load/load-test.sh --drain-timeout 60
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 from the project's devDependencies (the machine's node may be older), as npm scripts do.
export PATH="$PWD/node_modules/.bin:$PATH"
# Unset variables become empty values, which the command reads as "use the default".
exec node load/load.ts \
  --rate "${RATE:-}" --duration "${DURATION:-}" --url "${URL:-}" --api-key "${API_KEY:-}" --batch "${BATCH:-}" "$@"
