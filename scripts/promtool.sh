#!/usr/bin/env bash
# Build Prometheus' promtool, used by tests/deploy/test_alert_rules.py to check
# the chart's PrometheusRule (promtool check rules / promtool test rules), from
# source with the Go toolchain, into the AVRR cache, as scripts/helm.sh builds
# helm (scripts/go_tool.sh). The Go module proxy is the only source.
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

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
exec "$(dirname "$0")/go_tool.sh" promtool \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" --version
