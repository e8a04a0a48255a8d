#!/usr/bin/env bash
# The main job (`npm start`): the local stack, the core topics and schemas,
# then the doorman, the user-vectors and the candidates topologies, each its
# own process, until Ctrl-C (SIGINT) or SIGTERM, which stops all three gracefully.
# The user-vectors process serves the query API on 127.0.0.1:${VECTORS_HTTP_PORT:-8090}
# (docs/API.md, /metrics there too); the doorman's metrics are on :9101, the
# candidates' on :9102. Publish a snapshot from another terminal:
#   eval "$(bash scripts/stack.sh env)"; npx vectors publish vectors.jsonl --snapshot-id s1 --model als
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/stack.sh up
eval "$(bash scripts/stack.sh env)"
export KAFKA_BROKERS SCHEMA_REGISTRY_URL
cli=(node --import tsx src/cli/main.ts)
"${cli[@]}" provision --partitions "${VECTORS_PARTITIONS:-12}"
"${cli[@]}" run doorman --guarantee exactly-once --state-dir .state/doorman --metrics 127.0.0.1:9101 &
doorman=$!
"${cli[@]}" run user-vectors --state-dir .state/user-vectors --http "127.0.0.1:${VECTORS_HTTP_PORT:-8090}" &
workers=$!
"${cli[@]}" run candidates --state-dir .state/candidates --metrics 127.0.0.1:9102 &
candidates=$!
stop() { kill -TERM "$doorman" "$workers" "$candidates" 2>/dev/null || true; }
trap stop INT TERM
wait "$doorman" "$workers" "$candidates"
