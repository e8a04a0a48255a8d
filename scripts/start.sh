#!/usr/bin/env bash
# The main job (`npm start`): the local stack (started here when it is not
# running), then `vectors demo`: the doorman, user-vectors (query API and status
# page on 127.0.0.1:8090) and candidates; with no snapshot active yet, a
# generated world streamed through them with a snapshot switch halfway, and a
# summary. `npm start -- --no-demo` starts the services only; other options:
# `npx vectors demo --help`. Ctrl-C or SIGTERM stops every process it started,
# the stack included when this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/stack.sh status >/dev/null 2>&1; then
  if ! bash scripts/stack.sh up; then
    # Leave nothing half-started behind (e.g. Kafka up, the registry's port taken).
    bash scripts/stack.sh down >/dev/null 2>&1 || true
    echo "npm start: the local stack did not start (the lines above say why; ports: README \"Prerequisites\")" >&2
    exit 1
  fi
  export VECTORS_STOP_STACK=1
fi
eval "$(bash scripts/stack.sh env)"
export KAFKA_BROKERS SCHEMA_REGISTRY_URL
# exec: the demo is this process, so signals reach it and it stops what it started.
exec node bin/vectors.js demo "$@"
