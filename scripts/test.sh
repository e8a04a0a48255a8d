#!/usr/bin/env bash
# The test command (`npm test`): type-check, then unit and integration tests
# against the real local stack. Starts the stack when it is not running and
# stops it again afterwards (a stack you started yourself is left running).
# Extra arguments go to jest, e.g. `npm test -- test/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack/common.sh

log "type-checking"
npx tsc --noEmit -p tsconfig.json
log "linting (ESLint) and checking the format (Prettier; npm run format fixes it)"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --list-different .; echo "format check failed: run npm run format" >&2; exit 1; }

# docker-compose.yml is for users with a Docker engine; check it parses without one.
if command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q
  log "docker-compose.yml is valid"
elif docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config -q
  log "docker-compose.yml is valid"
else
  # A user's machine may have no Compose at all; CI (.ci/run) installs one, so the file is checked there.
  log "docker-compose.yml not checked: no Compose found (Debian: apt-get install docker-compose); CI checks it"
fi

started=0
stop_stack() {
  if [[ $started == 1 ]]; then bash scripts/stack.sh down || true; fi
}
trap stop_stack EXIT
if ! bash scripts/stack.sh status >/dev/null 2>&1; then
  started=1
  bash scripts/stack.sh up
fi
eval "$(bash scripts/stack.sh env)"
export KAFKA_BROKERS SCHEMA_REGISTRY_URL

results="$STACK_DIR/jest-results.json"
mkdir -p "$STACK_DIR"
rc=0
# One process at a time: integration tests share one broker on a 2-core machine.
npx jest --ci --runInBand --json --outputFile="$results" "$@" || rc=$?

# A plain closing line any CI can read.
node -e '
  const r = require(process.argv[1]);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$results" || true
exit $rc
