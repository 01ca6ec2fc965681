#!/usr/bin/env bash
# Local infrastructure for the AVRR platform without Docker (ARCHITECTURE.md §8):
# a single-node KRaft Kafka broker (jars from Maven Central, Java 17) and a
# PostgreSQL 15 cluster from the system's packages, both on 127.0.0.1 only.
#
#   scripts/infra.sh up       start both (idempotent), print logs + export lines
#   scripts/infra.sh down     stop both cleanly
#   scripts/infra.sh status   show what is running (exit 0 = both up, 3 = not)
#   scripts/infra.sh env      print only the export lines
#   scripts/infra.sh destroy  down + delete all state (data!)
#   scripts/infra.sh kafka-up | kafka-down
#                             the broker alone (tests that stop and restart a
#                             private broker use these with their own ports
#                             and AVRR_STATE_DIR)
#   scripts/infra.sh pg-up | pg-down
#                             PostgreSQL alone (make chaos restarts its private
#                             server with these)
#
# Environment:
#   AVRR_CACHE_DIR              jar cache           (default ~/.cache/avrr)
#   AVRR_STATE_DIR              data, pids, logs    (default <repo>/.infra)
#   AVRR_PG_PORT                PostgreSQL port     (default 5432)
#   AVRR_KAFKA_PORT             Kafka broker port   (default 9092)
#   AVRR_KAFKA_CONTROLLER_PORT  KRaft controller    (default 9093)
#   AVRR_KAFKA_SASL_PORT        SASL/SCRAM listener (default broker port + 2; "off": none)
#   AVRR_PG_BIN                 PostgreSQL bin dir  (default /usr/lib/postgresql/15/bin)
#   AVRR_KAFKA_HEAP_OPTS        broker JVM heap     (default "-Xms512m -Xmx1g")
#   AVRR_INFRA_TIMEOUT          readiness timeout s (default 60)
set -euo pipefail

# REPO, STATE_DIR, PG_PORT, KAFKA_PORT, KAFKA_SASL_PORT (shared with platform.sh)
source "$(dirname "${BASH_SOURCE[0]}")/local_stack.sh"
CACHE_DIR="${AVRR_CACHE_DIR:-${HOME:-/root}/.cache/avrr}"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"
KAFKA_CONTROLLER_PORT="${AVRR_KAFKA_CONTROLLER_PORT:-9093}"
PG_BIN="${AVRR_PG_BIN:-/usr/lib/postgresql/15/bin}"
KAFKA_HEAP_OPTS="${AVRR_KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
TIMEOUT="${AVRR_INFRA_TIMEOUT:-60}"

HOST=127.0.0.1
PG_SUPERUSER=postgres
APP_USER=avrr
APP_PASSWORD=avrr
DATABASES=(avrr_intake avrr_eligibility avrr_travel avrr_reintegration avrr_keys avrr_test)

KAFKA_VERSION=4.1.1
KAFKA_POM="$REPO/scripts/kafka/pom.xml"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"

KAFKA_DIR="$STATE_DIR/kafka"            # config + pid
KAFKA_DATA="$KAFKA_DIR/data"            # log.dirs (KRaft metadata + topics)
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG4J="$KAFKA_DIR/log4j2.properties"
KAFKA_TOOLS_LOG4J="$KAFKA_DIR/tools-log4j2.properties"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
LOG_DIR="$STATE_DIR/logs"
KAFKA_LOG="$LOG_DIR/kafka.log"          # broker log (log4j2)
KAFKA_OUT="$LOG_DIR/kafka.out"          # JVM stdout/stderr

# ---------------------------------------------------------------- helpers ---
log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

now() { date +%s; }

# A process counts as alive unless it is gone or a zombie (killed processes
# can linger as zombies for a moment until PID 1 reaps them).
proc_alive() {
  [[ -n "${1:-}" && -r "/proc/$1/stat" ]] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

wait_reaped() { # pid: give PID 1 a few seconds to reap a dead process
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -e "/proc/$1" ]] || return 0
    sleep 0.2
  done
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

who_listens() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/^/           /' || true
  fi
}

require_port_free() { # port, what
  if port_open "$1"; then
    printf '[infra] ERROR: port %s (%s) is already in use by another process:\n' "$1" "$2" >&2
    who_listens "$1" >&2
    printf '[infra]        stop it or choose another port (%s).\n' "$3" >&2
    exit 1
  fi
}

tail_log() { # file
  if [[ -f "$1" ]]; then
    printf '[infra] ---- last 40 lines of %s ----\n' "$1" >&2
    tail -n 40 "$1" >&2 || true
    printf '[infra] ----\n' >&2
  fi
}

# cd /: the caller's cwd (e.g. /root) may not be accessible to postgres.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# ------------------------------------------------------------- PostgreSQL ---
# The data dir must be owned by `postgres` and every ancestor must be
# traversable by it. If the state dir isn't (e.g. a repo under /root), fall
# back to /var/tmp/avrr-pg-<hash of state dir>. The choice is remembered in
# $STATE_DIR/pg.location so later runs find the same cluster.
pg_root() {
  local loc="$STATE_DIR/pg.location"
  if [[ -f "$loc" ]]; then
    cat "$loc"
    return
  fi
  local root="$STATE_DIR/pg"
  if ! id postgres >/dev/null 2>&1 || ! as_postgres test -x "$STATE_DIR" 2>/dev/null; then
    root="/var/tmp/avrr-pg-$(printf '%s' "$STATE_DIR" | sha1sum | cut -c1-12)"
  fi
  printf '%s\n' "$root"
}

pg_paths() {
  PG_ROOT="$(pg_root)"
  PG_DATA="$PG_ROOT/data"
  PG_LOG="$PG_ROOT/postgresql.log"
}

pg_check_installed() {
  [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || die "PostgreSQL 15 not found in $PG_BIN.
        Install it:  apt-get update && apt-get install -y postgresql-15   (or set AVRR_PG_BIN)"
  id postgres >/dev/null 2>&1 || die "system user 'postgres' is missing (install postgresql-15)"
}

pg_postmaster_pid() { head -1 "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_running() { # exit 0 if our cluster's postmaster is alive
  [[ -f "$PG_DATA/PG_VERSION" && -f "$PG_DATA/postmaster.pid" ]] || return 1
  proc_alive "$(pg_postmaster_pid)"
}

pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_write_conf() {
  # Rewritten on every `up` so AVRR_PG_PORT changes take effect.
  as_postgres tee "$PG_DATA/avrr.conf" >/dev/null <<EOF
# Managed by scripts/infra.sh -- rewritten on every 'up'.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = ''     # TCP only: no clash with a system cluster's socket
max_connections = 200
# durability stays ON: benchmarks must be honest
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

pg_init() {
  log "initialising PostgreSQL cluster in $PG_DATA"
  mkdir -p "$PG_ROOT"
  chown postgres:postgres "$PG_ROOT"
  chmod 700 "$PG_ROOT"
  mkdir -p "$STATE_DIR"
  printf '%s\n' "$PG_ROOT" >"$STATE_DIR/pg.location"
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" \
    --encoding=UTF8 --locale=C --auth-local=peer --auth-host=scram-sha-256 \
    >"$PG_ROOT/initdb.log" 2>&1 || { tail_log "$PG_ROOT/initdb.log"; die "initdb failed"; }
  # Local dev only: the superuser needs no password on 127.0.0.1 (used by this
  # script); every other role (avrr) authenticates with its password.
  as_postgres tee "$PG_DATA/pg_hba.conf" >/dev/null <<EOF
# Managed by scripts/infra.sh (local development only)
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       all                      peer
host    all       postgres  127.0.0.1/32   trust
host    all       all       127.0.0.1/32   scram-sha-256
EOF
  printf "\ninclude_if_exists = 'avrr.conf'\n" | as_postgres tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

psql_super() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres "$@"
}

pg_provision() {
  local dbs
  dbs="$(printf "'%s'," "${DATABASES[@]}")"
  dbs="${dbs%,}"
  psql_super >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SELECT format('CREATE DATABASE %I OWNER $APP_USER', d)
  FROM unnest(ARRAY[$dbs]) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)
\gexec
SQL
}

pg_up() {
  pg_check_installed
  pg_paths
  if pg_running; then
    local running_port
    running_port="$(pg_running_port)"
    if [[ "$running_port" != "$PG_PORT" ]]; then
      die "PostgreSQL ($PG_DATA) is already running on port $running_port, not $PG_PORT; run 'scripts/infra.sh down' first"
    fi
    log "PostgreSQL already running on $HOST:$PG_PORT"
  else
    require_port_free "$PG_PORT" "PostgreSQL" "AVRR_PG_PORT"
    # after a crash the dead postmaster may still be a zombie, which
    # PostgreSQL's own lock-file check would take for a running server
    [[ -f "$PG_DATA/postmaster.pid" ]] && wait_reaped "$(pg_postmaster_pid)"
    [[ -f "$PG_DATA/PG_VERSION" ]] || pg_init
    pg_write_conf
    touch "$PG_LOG"
    chown postgres:postgres "$PG_LOG"
    log "starting PostgreSQL on $HOST:$PG_PORT"
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" start >/dev/null; then
      tail_log "$PG_LOG"
      die "PostgreSQL failed to start"
    fi
  fi
  local deadline=$(($(now) + TIMEOUT))
  until "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres; do
    if ! pg_running; then
      tail_log "$PG_LOG"
      die "PostgreSQL is not running (see $PG_LOG)"
    fi
    if (($(now) >= deadline)); then
      tail_log "$PG_LOG"
      die "PostgreSQL not ready after ${TIMEOUT}s"
    fi
    sleep 0.2
  done
  pg_provision
}

pg_down() {
  [[ -x "$PG_BIN/pg_ctl" ]] || return 0
  pg_paths
  if pg_running; then
    log "stopping PostgreSQL"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  else
    log "PostgreSQL not running"
  fi
}

# ------------------------------------------------------------------ Kafka ---
kafka_check_java() {
  command -v java >/dev/null 2>&1 || die "java not found (Java 17+ required for Kafka $KAFKA_VERSION)"
}

kafka_fetch() {
  local stamp="$KAFKA_HOME/.complete" want
  want="$(sha1sum "$KAFKA_POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: needed once to fetch Kafka $KAFKA_VERSION jars into $KAFKA_LIBS"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$KAFKA_HOME"
  local tmp="$KAFKA_HOME/libs.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$LOG_DIR"
  if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies -DoutputDirectory="$tmp" \
    >"$LOG_DIR/kafka-fetch.log" 2>&1; then
    rm -rf "$tmp"
    tail_log "$LOG_DIR/kafka-fetch.log"
    die "maven fetch of Kafka jars failed (full output: $LOG_DIR/kafka-fetch.log)"
  fi
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  printf '%s\n' "$want" >"$stamp"
  log "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars"
}

# Two client listeners on loopback: PLAINTEXT is the administrative one (its
# ANONYMOUS principal is a super user: tests create and delete their topics
# there, and the ACLs are applied through it); SASL_PLAINTEXT authenticates
# each service's SCRAM-SHA-512 principal, whose ACLs allow only its own topics.
kafka_listeners_conf() {
  if [[ "$KAFKA_SASL_PORT" == off ]]; then
    cat <<EOF
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  cat <<EOF
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_PLAINTEXT://$HOST:$KAFKA_SASL_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_PLAINTEXT://$HOST:$KAFKA_SASL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS
EOF
}

# The services' SCRAM users (development passwords) and their ACLs, derived
# from the installed services' definitions; needs the project's venv.
kafka_apply_acls() {
  [[ "$KAFKA_SASL_PORT" == off ]] && return 0
  local py="$REPO/.venv/bin/python"
  if [[ ! -x "$py" ]] || ! "$py" -c 'import avrr_events.kafka_acls' 2>/dev/null; then
    log "SASL users and ACLs not applied: run 'make install', then '$0 up' again"
    return 0
  fi
  "$py" -m avrr_events.kafka_acls apply --development-users \
    --bootstrap "$HOST:$KAFKA_PORT" >"$LOG_DIR/kafka-acls.log" 2>&1 ||
    { tail_log "$LOG_DIR/kafka-acls.log"; die "applying the Kafka users and ACLs failed"; }
  log "Kafka SASL/SCRAM on $HOST:$KAFKA_SASL_PORT: $(tail -1 "$LOG_DIR/kafka-acls.log")"
}

kafka_write_conf() {
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA" "$LOG_DIR"
  # Static controller quorum (controller.quorum.voters): the voter endpoint is
  # read from this file on every start, so changing the ports later is fine.
  cat >"$KAFKA_PROPS" <<EOF
# Managed by scripts/infra.sh -- rewritten on every 'up'.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
$(kafka_listeners_conf)
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DATA
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=8
log.retention.hours=168
log.segment.bytes=1073741824
EOF
  cat >"$KAFKA_LOG4J" <<EOF
# Managed by scripts/infra.sh: broker logs go to a file, not the console.
status = warn
name = avrr-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $KAFKA_LOG
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  cat >"$KAFKA_TOOLS_LOG4J" <<EOF
status = error
name = avrr-kafka-tools
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

kafka_java() { # run a Kafka tool class
  java -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_format() {
  [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
  log "formatting KRaft storage (cluster id $cluster_id)"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" >"$LOG_DIR/kafka-format.log" 2>&1 ||
    { tail_log "$LOG_DIR/kafka-format.log"; die "kafka storage format failed"; }
}

kafka_pid() { # print pid of our running broker, or fail
  [[ -f "$KAFKA_PID" ]] || return 1
  local pid
  pid="$(cat "$KAFKA_PID")"
  proc_alive "$pid" || return 1
  # guard against pid reuse: must be a kafka.Kafka JVM using our config
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_PROPS" || return 1
  printf '%s\n' "$pid"
}

kafka_ready() { # broker answers a metadata request
  timeout 15 java -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" --list >/dev/null 2>&1
}

kafka_up() {
  kafka_check_java
  local pid
  if pid="$(kafka_pid)"; then
    local ports="$STATE_DIR/kafka/ports"
    if [[ -f "$ports" && "$(cat "$ports")" != "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ]]; then
      die "Kafka (pid $pid) is already running with ports $(cat "$ports"); run 'scripts/infra.sh down' first"
    fi
    if port_open "$KAFKA_PORT"; then
      log "Kafka already running on $HOST:$KAFKA_PORT (pid $pid)"
      return 0
    fi
    log "Kafka process $pid exists but port $KAFKA_PORT is not open yet; waiting"
  else
    rm -f "$KAFKA_PID"
    require_port_free "$KAFKA_PORT" "Kafka broker" "AVRR_KAFKA_PORT"
    require_port_free "$KAFKA_CONTROLLER_PORT" "Kafka controller" "AVRR_KAFKA_CONTROLLER_PORT"
    kafka_fetch
    kafka_write_conf
    kafka_format
    log "starting Kafka $KAFKA_VERSION (KRaft) on $HOST:$KAFKA_PORT"
    printf '%s %s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" >"$KAFKA_DIR/ports"
    printf '\n===== %s start =====\n' "$(date -Is)" >>"$KAFKA_OUT"
    # setsid: own session, so Ctrl-C in the calling shell/make doesn't kill it
    # shellcheck disable=SC2086
    setsid nohup java $KAFKA_HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
      -Djava.awt.headless=true -Dkafka.logs.dir="$LOG_DIR" \
      -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" >>"$KAFKA_OUT" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$KAFKA_PID"
  fi
  local deadline=$(($(now) + TIMEOUT))
  while :; do
    if ! proc_alive "$pid"; then
      tail_log "$KAFKA_LOG"
      tail_log "$KAFKA_OUT"
      rm -f "$KAFKA_PID"
      die "Kafka exited during startup (logs: $KAFKA_LOG, $KAFKA_OUT)"
    fi
    if port_open "$KAFKA_PORT" && kafka_ready; then
      break
    fi
    if (($(now) >= deadline)); then
      tail_log "$KAFKA_LOG"
      tail_log "$KAFKA_OUT"
      die "Kafka not ready after ${TIMEOUT}s (pid $pid still running; 'scripts/infra.sh down' stops it)"
    fi
    sleep 0.5
  done
}

kafka_down() {
  local pid
  if ! pid="$(kafka_pid)"; then
    log "Kafka not running"
    rm -f "$KAFKA_PID"
    return 0
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(($(now) + 60))
  while proc_alive "$pid"; do
    if (($(now) >= deadline)); then
      log "Kafka did not stop within 60s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$KAFKA_PID"
}

# --------------------------------------------------------------- commands ---
print_env() {
  printf 'export KAFKA_BOOTSTRAP_SERVERS=%s:%s\n' "$HOST" "$KAFKA_PORT"
  if [[ "$KAFKA_SASL_PORT" != off ]]; then
    printf 'export KAFKA_SASL_BOOTSTRAP_SERVERS=%s:%s\n' "$HOST" "$KAFKA_SASL_PORT"
  fi
  printf 'export DATABASE_URL=postgresql+asyncpg://%s:%s@%s:%s/avrr_test\n' "$APP_USER" "$APP_PASSWORD" "$HOST" "$PG_PORT"
}

cmd_up() {
  [[ $EUID -eq 0 ]] || die "run as root (PostgreSQL is run as the 'postgres' user via runuser)"
  mkdir -p "$STATE_DIR" "$LOG_DIR"
  local t0
  t0=$(now)
  preflight
  pg_up
  kafka_up
  kafka_apply_acls
  log "up in $(($(now) - t0))s"
  pg_paths
  log "PostgreSQL: $HOST:$PG_PORT  data $PG_DATA  log $PG_LOG"
  log "Kafka:      $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)  data $KAFKA_DATA  log $KAFKA_LOG (+ $KAFKA_OUT)"
  log "databases:  ${DATABASES[*]} (owner $APP_USER/$APP_PASSWORD)"
  print_env
}

# Check every port we are about to bind before starting anything, so a busy
# port never leaves a half-started stack behind.
preflight() {
  pg_check_installed
  kafka_check_java
  pg_paths
  if ! pg_running; then
    require_port_free "$PG_PORT" "PostgreSQL" "AVRR_PG_PORT"
  fi
  if ! kafka_pid >/dev/null; then
    require_port_free "$KAFKA_PORT" "Kafka broker" "AVRR_KAFKA_PORT"
    require_port_free "$KAFKA_CONTROLLER_PORT" "Kafka controller" "AVRR_KAFKA_CONTROLLER_PORT"
  fi
}

cmd_down() {
  kafka_down
  pg_down
}

cmd_status() {
  local ok=0 pid
  pg_paths
  if [[ -x "$PG_BIN/pg_ctl" ]] && pg_running; then
    local state="not answering"
    "$PG_BIN/pg_isready" -q -h "$HOST" -p "$(pg_running_port)" && state="accepting connections"
    echo "postgresql: running  pid $(pg_postmaster_pid)  $HOST:$(pg_running_port)  $state  data $PG_DATA"
  else
    echo "postgresql: stopped  (data ${PG_DATA})"
    ok=3
  fi
  if pid="$(kafka_pid)"; then
    local kport="$KAFKA_PORT" state="port closed"
    [[ -f "$KAFKA_DIR/ports" ]] && kport="$(cut -d' ' -f1 "$KAFKA_DIR/ports")"
    port_open "$kport" && state="listening"
    echo "kafka:      running  pid $pid  $HOST:$kport  $state  data $KAFKA_DATA"
  else
    echo "kafka:      stopped  (data $KAFKA_DATA)"
    ok=3
  fi
  return "$ok"
}

cmd_destroy() {
  cmd_down
  pg_paths
  if [[ "$PG_ROOT" != "$STATE_DIR"/* ]]; then
    log "deleting $PG_ROOT"
    rm -rf "$PG_ROOT"
  fi
  log "deleting $STATE_DIR"
  rm -rf "$STATE_DIR"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  destroy) cmd_destroy ;;
  kafka-up)
    mkdir -p "$STATE_DIR" "$LOG_DIR"
    kafka_up
    kafka_apply_acls
    ;;
  kafka-down) kafka_down ;;
  pg-up)
    [[ $EUID -eq 0 ]] || die "run as root (PostgreSQL is run as the 'postgres' user via runuser)"
    mkdir -p "$STATE_DIR" "$LOG_DIR"
    pg_up
    ;;
  pg-down) pg_down ;;
  *)
    echo "usage: $0 up|down|status|env|destroy|kafka-up|kafka-down|pg-up|pg-down" >&2
    exit 2
    ;;
esac
