#!/usr/bin/env bash
# Build Prometheus' promtool, used by tests/deploy/test_alert_rules.py to check
# the chart's PrometheusRule (promtool check rules / promtool test rules), from
# source with the Go toolchain, into the AVRR cache, as scripts/helm.sh builds
# helm. The Go module proxy is the only source.
#
#   scripts/promtool.sh     build promtool once (idempotent: skips if the binary
#                           exists and runs) and print its path
#
# Environment:
#   AVRR_CACHE_DIR      cache root            (default ~/.cache/avrr)
#   AVRR_PROMTOOL       use this binary instead; only checked, never built
#   PROMETHEUS_VERSION  module version to build (default v0.316.0, Prometheus 3.x)
#
# tests/deploy find promtool via $AVRR_PROMTOOL or $AVRR_CACHE_DIR/bin/promtool.
set -euo pipefail

CACHE_DIR="${AVRR_CACHE_DIR:-${HOME:-/root}/.cache/avrr}"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
BIN_DIR="$CACHE_DIR/bin"
PROMTOOL="${AVRR_PROMTOOL:-$BIN_DIR/promtool}"

if [[ -x "$PROMTOOL" ]] && "$PROMTOOL" --version >/dev/null 2>&1; then
    echo "$PROMTOOL"
    exit 0
fi
if [[ -n "${AVRR_PROMTOOL:-}" ]]; then
    echo "promtool.sh: AVRR_PROMTOOL=$AVRR_PROMTOOL is not an executable promtool" >&2
    exit 1
fi
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="$PATH:/usr/local/go/bin"   # the usual install location, not always on PATH
fi
if ! command -v go >/dev/null 2>&1; then
    echo "promtool.sh: the Go toolchain is required to build promtool (go not on PATH)" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
echo "promtool.sh: building promtool $PROMETHEUS_VERSION into $BIN_DIR (a few minutes) ..." >&2
start=$SECONDS
GOBIN="$BIN_DIR" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" >&2
"$PROMTOOL" --version >&2
echo "promtool.sh: built in $((SECONDS - start)) s" >&2
echo "$PROMTOOL"
