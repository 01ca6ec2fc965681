#!/usr/bin/env bash
# Build the Helm CLI used by tests/deploy (helm lint / helm template) from
# source with the Go toolchain, into the AVRR cache. No Docker, no binary
# download from a CDN: the Go module proxy is the only source.
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

CACHE_DIR="${AVRR_CACHE_DIR:-${HOME:-/root}/.cache/avrr}"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
BIN_DIR="$CACHE_DIR/bin"
HELM="${AVRR_HELM:-$BIN_DIR/helm}"

if [[ -x "$HELM" ]] && "$HELM" version --short >/dev/null 2>&1; then
    echo "$HELM"
    exit 0
fi
if [[ -n "${AVRR_HELM:-}" ]]; then
    echo "helm.sh: AVRR_HELM=$AVRR_HELM is not an executable helm" >&2
    exit 1
fi
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="$PATH:/usr/local/go/bin"   # the usual install location, not always on PATH
fi
if ! command -v go >/dev/null 2>&1; then
    echo "helm.sh: the Go toolchain is required to build helm (go not on PATH)" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
echo "helm.sh: building helm $HELM_VERSION into $BIN_DIR (a few minutes) ..." >&2
GOBIN="$BIN_DIR" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
"$HELM" version --short >&2
echo "$HELM"
