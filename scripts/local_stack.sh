# Where the local stack of scripts/infra.sh keeps its state and on which ports it
# listens, read from the environment once for both scripts/infra.sh and
# scripts/platform.sh (each sources this file), so that a private AVRR_STATE_DIR
# or AVRR_KAFKA_PORT means the same servers to both.
# shellcheck shell=bash
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${AVRR_STATE_DIR:-$REPO/.infra}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
PG_PORT="${AVRR_PG_PORT:-5432}"
KAFKA_PORT="${AVRR_KAFKA_PORT:-9092}"
# The SASL/SCRAM listener on which each service has its own principal and ACLs
# (python -m avrr_events.kafka_acls); "off" for a private broker without it.
KAFKA_SASL_PORT="${AVRR_KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}"
