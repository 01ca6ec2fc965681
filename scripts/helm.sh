#!/usr/bin/env bash
# Build the Helm CLI used by tests/deploy (helm lint / helm template) from
# source with the Go toolchain, into the AVRR cache (scripts/go_tool.sh). No
# Docker, no binary download from a CDN: the Go module proxy is the only source.
#
#   scripts/helm.sh     build helm once (idempotent: skips if the binary exists
#                       and reports the pinned version) and print its path
#
# Environment:
#   AVRR_CACHE_DIR   cache root            (default ~/.cache/avrr)
#   AVRR_HELM        use this binary instead; only checked, never built
#   HELM_VERSION     module version to build (default v3.22.0)
#
# tests/deploy find helm via $AVRR_HELM or $AVRR_CACHE_DIR/bin/helm.
# A first build takes about four minutes.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
exec "$(dirname "$0")/go_tool.sh" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" version --short
