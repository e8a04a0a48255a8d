# Shared helpers for the local stack scripts. Sourced, not run.
# Every service keeps its pid, logs and data under $STACK_DIR/<service>; downloads
# are cached under $VECTORS_CACHE_DIR so a second `up` (and CI on the same machine)
# does not fetch again.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$ROOT_DIR/.stack}"
VECTORS_CACHE_DIR="${VECTORS_CACHE_DIR:-$HOME/.cache/vectors}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
STACK_HOST=127.0.0.1

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

# pid_alive PIDFILE -> 0 when the process named in PIDFILE is running.
pid_alive() {
  local f="$1"
  [[ -f "$f" ]] || return 1
  local pid; pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# port_in_use PORT -> 0 when something listens on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/$STACK_HOST/$1") 2>/dev/null
}

# require_free_port PORT WHAT: fail with a clear message when PORT is taken by
# a process that is not ours.
require_free_port() {
  if port_in_use "$1"; then
    die "port $1 on $STACK_HOST (for $2) is already in use by another process. Stop it, or pick another port, e.g. ${3:-PORT}=<free port> npm run stack:up"
  fi
}

require_java() {
  command -v java >/dev/null 2>&1 || die "java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless), or use 'docker compose up' instead."
  local v; v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  [[ -n "$v" && "$v" -ge 17 ]] || die "Java 17 or newer is needed, found '$(java -version 2>&1 | head -1)'."
}

require_maven() {
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (Debian: apt-get install maven); it resolves the Kafka and registry artifacts."
}

# stop_pidfile PIDFILE NAME: SIGTERM the pid, wait up to 20 s, then SIGKILL.
stop_pidfile() {
  local f="$1" name="$2"
  if ! pid_alive "$f"; then rm -f "$f"; log "$name not running"; return 0; fi
  local pid; pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "$name (pid $pid) ignored SIGTERM; killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$f"
  log "$name stopped (pid $pid)"
}
