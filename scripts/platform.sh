#!/usr/bin/env bash
# The real stack on this machine: every installed service as its own process
# (REST API + consumer + outbox relay), against the local Kafka and PostgreSQL
# of scripts/infra.sh (started if needed), each after `python -m avrr_events.setup`
# (schema migrations to head, topics). Development keys and header
# authentication are on (AVRR_DEV=1): this is for local work, not real data.
#
#   scripts/platform.sh up       start intake :8001, eligibility :8002, travel :8003, reintegration :8004
#   scripts/platform.sh down     stop them
#   scripts/platform.sh status   what runs where
set -euo pipefail

# REPO, STATE_DIR, PG_PORT, KAFKA_PORT, KAFKA_SASL_PORT as scripts/infra.sh reads them
source "$(dirname "${BASH_SOURCE[0]}")/local_stack.sh"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
PY="${PY:-$REPO/.venv/bin/python}"
declare -A PORTS=([intake]=8001 [eligibility]=8002 [travel]=8003 [reintegration]=8004)

log() { printf '[platform] %s\n' "$*" >&2; }

installed() {
  "$PY" -c 'from avrr_events.web.embedded import discover; print(" ".join(s.name for s in discover()))'
}

up() {
  "$REPO/scripts/infra.sh" up >/dev/null
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  local name pidfile
  for name in $(installed); do
    pidfile="$RUN_DIR/$name.pid"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$name already running (pid $(cat "$pidfile"))"
      continue
    fi
    export DATABASE_URL="postgresql+asyncpg://avrr:avrr@127.0.0.1:$PG_PORT/avrr_$name" \
      AVRR_KEYSTORE_URL="postgresql+asyncpg://avrr:avrr@127.0.0.1:$PG_PORT/avrr_keys" \
      KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT" \
      AVRR_DEV=1 AVRR_DEV_AUTH_OVERRIDE=1 AVRR_PORT="${PORTS[$name]:-8000}"
    if [[ "$KAFKA_SASL_PORT" != off ]]; then
      # Each service as its own Kafka principal, held to its ACLs (avrr_events.kafka_acls).
      export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_SASL_PORT" \
        KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=SCRAM-SHA-512 \
        KAFKA_SASL_USERNAME="$name" KAFKA_SASL_PASSWORD="avrr-dev-$name"
    fi
    # As the deployment's setup Job: migrate the databases to head and create the
    # topics first (idempotent); a service refuses to start on an unmigrated database.
    if ! "$PY" -m avrr_events.setup "$name" >>"$LOG_DIR/$name.log" 2>&1; then
      log "setup of $name failed (see $LOG_DIR/$name.log)"
      return 1
    fi
    setsid nohup "$PY" -m avrr_events.serve "$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    log "$name on http://127.0.0.1:${PORTS[$name]:-8000} (log $LOG_DIR/$name.log)"
  done
}

# each_started FUNCTION: FUNCTION NAME PIDFILE for every service `up` started.
each_started() {
  local pidfile
  for pidfile in "$RUN_DIR"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    "$1" "$(basename "$pidfile" .pid)" "$pidfile"
  done
}

stop_one() {
  if kill -TERM "$(cat "$2")" 2>/dev/null; then log "stopped $1"; fi
  rm -f "$2"
}

report_one() {
  if kill -0 "$(cat "$2")" 2>/dev/null; then
    echo "$1: running pid $(cat "$2") http://127.0.0.1:${PORTS[$1]:-8000}"
  else
    echo "$1: dead (see $LOG_DIR/$1.log)"
  fi
}

down() { each_started stop_one; }

status() { each_started report_one; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
