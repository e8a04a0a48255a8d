#!/usr/bin/env bash
# The local stack: a real single-node Apache Kafka (KRaft) and a real Schema
# Registry (Apicurio Registry's Confluent-compatible API), both on 127.0.0.1.
#
#   scripts/stack.sh up       start both (idempotent); waits until they really work
#   scripts/stack.sh down     stop both by pid; leaves no process behind
#   scripts/stack.sh status   exit 0 when both run
#   scripts/stack.sh reset    stop both and delete their data (topics and schemas go together)
#   scripts/stack.sh env      print the variables clients need (eval "$(scripts/stack.sh env)")
source "$(dirname "${BASH_SOURCE[0]}")/stack/common.sh"
here="$(dirname "${BASH_SOURCE[0]}")/stack"

print_env() {
  echo "export KAFKA_BROKERS=$STACK_HOST:$KAFKA_PORT"
  echo "export SCHEMA_REGISTRY_URL=http://$STACK_HOST:$REGISTRY_PORT/apis/ccompat/v7"
}

case "${1:-}" in
  up)
    bash "$here/kafka.sh" up
    # A wiped broker (KAFKA_CLEAN=1) takes its schemas with it: see `reset`.
    if [[ "${KAFKA_CLEAN:-0}" == 1 ]] && ! bash "$here/registry.sh" status >/dev/null 2>&1; then rm -rf "$STACK_DIR/registry/data"; fi
    bash "$here/registry.sh" up
    log "stack is up:"
    print_env >&2
    ;;
  down)
    rc=0
    bash "$here/registry.sh" down || rc=$?
    bash "$here/kafka.sh" down || rc=$?
    exit $rc
    ;;
  reset)
    bash "$0" down
    # Kafka's records name schema ids: the two data directories only make sense together.
    rm -rf "$STACK_DIR/kafka/data" "$STACK_DIR/registry/data"
    log "stack data deleted; \`up\` starts empty"
    ;;
  status)
    rc=0
    bash "$here/kafka.sh" status || rc=$?
    bash "$here/registry.sh" status || rc=$?
    exit $rc
    ;;
  env)
    print_env
    ;;
  *)
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
    exit 2
    ;;
esac
