#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) from jars that
# Maven resolves; no Docker, no tarball download. See docs/stack-kafka.md.
#
#   scripts/stack/kafka.sh up                  start (or find running) and wait until it really works
#   scripts/stack/kafka.sh down                stop: SIGTERM, SIGKILL after 20 s
#   scripts/stack/kafka.sh status              running/stopped, pid and port (exit 0 running, 3 stopped)
#   scripts/stack/kafka.sh run-class CLASS ARGS...   run a class on the Kafka classpath, e.g.
#       scripts/stack/kafka.sh run-class org.apache.kafka.tools.consumer.ConsoleConsumer \
#         --bootstrap-server 127.0.0.1:9092 --topic t --from-beginning --max-messages 3
#   scripts/stack/kafka.sh fetch               only resolve the jars into the cache
#
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), STACK_DIR, VECTORS_CACHE_DIR (see common.sh);
#      KAFKA_VERSION (4.4.0); KAFKA_CLEAN=1 wipes the broker's data on `up` (only when it is not running);
#      KAFKA_READY_TIMEOUT (60, seconds `up` waits for readiness);
#      KAFKA_HEAP_OPTS (-Xms256m -Xmx512m); KAFKA_JVM_OPTS (extra JVM flags of the broker);
#      KAFKA_TOOLS_HEAP_OPTS (-Xmx256m, for run-class).
#      KAFKA_EXTRA_PROPERTIES: a file of server.properties lines appended to the rendered config
#      (later keys win), e.g. an extra SASL_SSL listener (test/integration/kafka-security.test.ts).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_SRC_DIR="$ROOT_DIR/scripts/stack/kafka"
KAFKA_POM="$KAFKA_SRC_DIR/pom.xml"
KAFKA_HOME_DIR="$VECTORS_CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIB="$KAFKA_HOME_DIR/lib"
KAFKA_MARKER="$KAFKA_HOME_DIR/.resolved"

KAFKA_STATE="$STACK_DIR/kafka"
KAFKA_DATA="$KAFKA_STATE/data"
KAFKA_LOGS="$KAFKA_STATE/logs"
KAFKA_PIDFILE="$KAFKA_STATE/kafka.pid"
KAFKA_CONFIG="$KAFKA_STATE/server.properties"
KAFKA_OUT="$KAFKA_LOGS/kafka.out"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-60}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_TOOLS_HEAP_OPTS="${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m}"

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

# The jars are resolved once per (version, pom content); the marker is written last,
# so an interrupted or failed resolution is redone by the next call.
pom_stamp() { printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"; }

jars_ready() { [[ -f "$KAFKA_MARKER" && "$(cat "$KAFKA_MARKER")" == "$(pom_stamp)" ]]; }

ensure_jars() {
  jars_ready && return 0
  require_maven
  mkdir -p "$KAFKA_HOME_DIR"
  local tmp="$KAFKA_HOME_DIR/lib.partial" mvnlog="$KAFKA_HOME_DIR/resolve.log"
  rm -rf "$tmp"
  log "resolving Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIB (once; log: $mvnlog)"
  # -B: no colours/progress; the local repository (~/.m2) is reused by later resolutions.
  if ! mvn -B -q -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    tail -n 30 "$mvnlog" >&2 || true
    rm -rf "$tmp"
    die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see $mvnlog). Is Maven Central reachable? Another version: KAFKA_VERSION=<x.y.z>"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "Maven finished but $tmp/kafka_2.13-$KAFKA_VERSION.jar is missing (see $mvnlog)"
  rm -rf "$KAFKA_LIB"
  mv "$tmp" "$KAFKA_LIB"
  pom_stamp >"$KAFKA_MARKER"
  log "Kafka $KAFKA_VERSION: $(find "$KAFKA_LIB" -name "*.jar" | wc -l) jars cached"
}

# Is the pid in the pidfile our broker (and not a stale pid reused by something else)?
kafka_running() {
  pid_alive "$KAFKA_PIDFILE" || return 1
  local pid; pid="$(cat "$KAFKA_PIDFILE")"
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $KAFKA_CONFIG" && return 0
  log "stale pidfile $KAFKA_PIDFILE (pid $pid is not our broker); removing it"
  rm -f "$KAFKA_PIDFILE"
  return 1
}

# broker_cmd: the broker's java command line, in the array BROKER_CMD.
broker_cmd() {
  # shellcheck disable=SC2206 # word splitting of the *_OPTS variables is intended
  BROKER_CMD=(java $KAFKA_HEAP_OPTS
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    ${KAFKA_JVM_OPTS:-}
    -Dkafka.logs.dir="$KAFKA_LOGS"
    -Dlog4j2.configurationFile="$KAFKA_SRC_DIR/log4j2.xml"
    -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_CONFIG")
}

# tool_cmd CLASS ARGS...: a tool's java command line, in the array TOOL_CMD. Tools log
# warnings to stderr only, so their stdout is just their output.
tool_cmd() {
  # shellcheck disable=SC2206
  TOOL_CMD=(java $KAFKA_TOOLS_HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_SRC_DIR/tools-log4j2.xml"
    -cp "$KAFKA_LIB/*" "$@")
}

run_tool() { tool_cmd "$@"; "${TOOL_CMD[@]}"; }

render_config() {
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
      "$KAFKA_SRC_DIR/server.properties.template" >"$KAFKA_CONFIG.tmp"
  if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
    # Appended: a key given again here overrides the template's (e.g. listeners for a SASL_SSL one).
    [[ -f "$KAFKA_EXTRA_PROPERTIES" ]] || die "KAFKA_EXTRA_PROPERTIES names '$KAFKA_EXTRA_PROPERTIES', which is not a file"
    printf '\n# from KAFKA_EXTRA_PROPERTIES (%s)\n' "$KAFKA_EXTRA_PROPERTIES" >>"$KAFKA_CONFIG.tmp"
    cat "$KAFKA_EXTRA_PROPERTIES" >>"$KAFKA_CONFIG.tmp"
  fi
  mv "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
}

format_storage() {
  if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
    return 0
  fi
  local cid
  cid="$(run_tool kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOGS/format.log" | tail -n 1)"
  [[ -n "$cid" ]] || die "could not generate a cluster id (see $KAFKA_LOGS/format.log)"
  rm -rf "$KAFKA_DATA"
  mkdir -p "$KAFKA_DATA"
  log "formatting KRaft storage in $KAFKA_DATA (cluster id $cid)"
  if ! run_tool kafka.tools.StorageTool format --cluster-id "$cid" --config "$KAFKA_CONFIG" >>"$KAFKA_LOGS/format.log" 2>&1; then
    tail -n 20 "$KAFKA_LOGS/format.log" >&2 || true
    rm -rf "$KAFKA_DATA"
    die "formatting the Kafka storage failed (see $KAFKA_LOGS/format.log)"
  fi
  printf '%s\n' "$cid" >"$KAFKA_STATE/cluster.id"
}

# Byte offset of server.log when this `up` started the broker: failure reports show only
# what this start logged, not an earlier run's shutdown.
KAFKA_LOG_OFFSET=0

show_log_tail() {
  local f="$KAFKA_LOGS/server.log"
  if [[ -s "$f" ]]; then
    local errs
    errs="$(tail -c +$(( KAFKA_LOG_OFFSET + 1 )) "$f" | grep -E '^\[[^]]*\] (ERROR|FATAL)' | tail -n 15 || true)"
    if [[ -n "$errs" ]]; then
      printf -- '----- errors in %s (this start) -----\n%s\n' "$f" "$errs" >&2
    fi
    local last
    last="$(tail -c +$(( KAFKA_LOG_OFFSET + 1 )) "$f" | tail -n 20)"
    if [[ -n "$last" ]]; then
      printf -- '----- last lines of %s (this start) -----\n%s\n' "$f" "$last" >&2
    fi
  fi
  if [[ -s "$KAFKA_OUT" ]]; then
    printf -- '----- last lines of %s (stdout/stderr of the JVM) -----\n' "$KAFKA_OUT" >&2
    tail -n 20 "$KAFKA_OUT" >&2
  fi
}

# wait_ready DEADLINE_EPOCH: run kafka-ready.mjs until it passes or the deadline is reached.
wait_ready() {
  local deadline="$1" out="" rc=0 remaining
  command -v node >/dev/null 2>&1 || die "node not found: it is needed to check that Kafka is ready (scripts/stack/kafka-ready.mjs)."
  while :; do
    if ! kafka_running; then
      rm -f "$KAFKA_PIDFILE"
      show_log_tail
      die "the Kafka process exited (logs: $KAFKA_LOGS). A data dir from another setup (node id, cluster id, newer version) can be wiped with KAFKA_CLEAN=1"
    fi
    remaining=$(( deadline - $(date +%s) ))
    if (( remaining <= 0 )); then
      [[ -n "$out" ]] && printf '%s\n' "$out" >&2
      show_log_tail
      return 1
    fi
    if ! port_in_use "$KAFKA_PORT"; then
      out="kafka-ready: port $KAFKA_PORT not open yet"
      sleep 0.5
      continue
    fi
    local t=$(( remaining < 20 ? remaining : 20 ))
    rc=0
    out="$(node "$ROOT_DIR/scripts/stack/kafka-ready.mjs" --brokers "$STACK_HOST:$KAFKA_PORT" --timeout-ms "$(( t * 1000 ))" 2>&1)" || rc=$?
    printf '[%s] %s\n' "$(date '+%F %T')" "$out" >>"$KAFKA_LOGS/ready.log"
    if (( rc == 0 )); then
      log "$out"
      return 0
    fi
    sleep 1
  done
}

cmd_up() {
  require_java
  mkdir -p "$KAFKA_STATE" "$KAFKA_LOGS"
  local t0; t0="$(date +%s.%N)"
  if kafka_running; then
    # Failure reports then show the recent part of server.log only.
    KAFKA_LOG_OFFSET="$(stat -c %s "$KAFKA_LOGS/server.log" 2>/dev/null || echo 0)"
    KAFKA_LOG_OFFSET=$(( KAFKA_LOG_OFFSET > 100000 ? KAFKA_LOG_OFFSET - 100000 : 0 ))
    [[ "${KAFKA_CLEAN:-0}" == 1 ]] && log "KAFKA_CLEAN=1 ignored: Kafka is running (run 'down' first to wipe its data)"
    log "Kafka $(cat "$KAFKA_STATE/version" 2>/dev/null || echo '?') is already running (pid $(cat "$KAFKA_PIDFILE"), $STACK_HOST:$KAFKA_PORT); checking that it works"
    wait_ready $(( $(date +%s) + KAFKA_READY_TIMEOUT )) || die "Kafka (pid $(cat "$KAFKA_PIDFILE")) is running but not ready after ${KAFKA_READY_TIMEOUT}s (logs: $KAFKA_LOGS)"
    return 0
  fi
  require_free_port "$KAFKA_PORT" "Kafka" KAFKA_PORT
  require_free_port "$KAFKA_CONTROLLER_PORT" "the Kafka controller" KAFKA_CONTROLLER_PORT
  ensure_jars
  if [[ "${KAFKA_CLEAN:-0}" == 1 ]]; then
    log "KAFKA_CLEAN=1: wiping $KAFKA_DATA"
    rm -rf "$KAFKA_DATA" "$KAFKA_STATE/cluster.id"
  fi
  render_config
  format_storage

  log "starting Kafka $KAFKA_VERSION (KRaft, node 1) on $STACK_HOST:$KAFKA_PORT, controller $STACK_HOST:$KAFKA_CONTROLLER_PORT"
  : >"$KAFKA_OUT"
  KAFKA_LOG_OFFSET="$(stat -c %s "$KAFKA_LOGS/server.log" 2>/dev/null || echo 0)"
  # setsid: the broker gets its own session, so a Ctrl-C in this terminal does not reach it.
  # In a non-interactive script the subshell is no process group leader, so setsid execs in
  # place and $! is the java pid itself (checked by kafka_running via /proc/PID/cmdline).
  broker_cmd
  ( exec setsid "${BROKER_CMD[@]}" </dev/null >>"$KAFKA_OUT" 2>&1 ) &
  local pid=$!
  echo "$pid" >"$KAFKA_PIDFILE"
  echo "$KAFKA_VERSION" >"$KAFKA_STATE/version"
  sleep 0.3
  if ! wait_ready $(( $(date +%s) + KAFKA_READY_TIMEOUT )); then
    log "Kafka did not become ready within ${KAFKA_READY_TIMEOUT}s; stopping it"
    stop_pidfile "$KAFKA_PIDFILE" Kafka
    die "Kafka failed to start (logs: $KAFKA_LOGS)"
  fi
  local rss; rss="$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$(cat "$KAFKA_PIDFILE")/status" 2>/dev/null || echo '?')"
  log "Kafka $KAFKA_VERSION ready on $STACK_HOST:$KAFKA_PORT (pid $(cat "$KAFKA_PIDFILE"), $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s, RSS ${rss} MB)"
}

cmd_down() {
  # kafka_running drops a stale pidfile, so stop_pidfile never signals a foreign process.
  kafka_running || true
  stop_pidfile "$KAFKA_PIDFILE" Kafka
  if port_in_use "$KAFKA_PORT"; then
    log "note: port $KAFKA_PORT is still in use, by a process this script did not start"
  fi
}

cmd_status() {
  if kafka_running; then
    local pid; pid="$(cat "$KAFKA_PIDFILE")"
    local rss; rss="$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null || echo '?')"
    local port="closed"; port_in_use "$KAFKA_PORT" && port="open"
    echo "kafka: running (pid $pid, $STACK_HOST:$KAFKA_PORT $port, controller $STACK_HOST:$KAFKA_CONTROLLER_PORT, version $(cat "$KAFKA_STATE/version" 2>/dev/null || echo '?'), RSS ${rss} MB, data $KAFKA_DATA)"
    return 0
  fi
  echo "kafka: stopped (port $KAFKA_PORT $(port_in_use "$KAFKA_PORT" && echo "in use by another process" || echo free))"
  return 3
}

cmd_run_class() {
  [[ $# -ge 1 ]] || die "usage: kafka.sh run-class <java-class> [args...]"
  require_java
  ensure_jars
  tool_cmd "$@"
  exec "${TOOL_CMD[@]}"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  run-class) shift; cmd_run_class "$@" ;;
  fetch) shift; require_java; ensure_jars; log "Kafka $KAFKA_VERSION jars in $KAFKA_LIB" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 64 ;;
esac
