#!/usr/bin/env bash
# Build a Go command-line tool from source with the Go toolchain, into the AVRR
# cache, and print its path. No Docker, no binary download from a CDN: the Go
# module proxy is the only source. scripts/helm.sh and scripts/promtool.sh are
# this script with their tool's name, module and version check.
#
#   scripts/go_tool.sh NAME MODULE@VERSION [CHECK-ARGS...]
#
#     NAME            the binary (helm, promtool)
#     MODULE@VERSION  what `go install` builds
#     CHECK-ARGS      arguments that make the binary print its version and exit
#                     0 (default --version): a binary that passes is not rebuilt
#
# Environment:
#   AVRR_CACHE_DIR   cache root (default ~/.cache/avrr); binaries go to its bin/
#   AVRR_<NAME>      use this binary instead (AVRR_HELM, AVRR_PROMTOOL); only
#                    checked, never built
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: scripts/go_tool.sh NAME MODULE@VERSION [CHECK-ARGS...]" >&2
    exit 2
fi
NAME="$1"
MODULE="$2"
shift 2
CHECK=("$@")
[[ ${#CHECK[@]} -gt 0 ]] || CHECK=(--version)
ME="$NAME.sh"
OVERRIDE_VAR="AVRR_${NAME^^}"
OVERRIDE="${!OVERRIDE_VAR:-}"

CACHE_DIR="${AVRR_CACHE_DIR:-${HOME:-/root}/.cache/avrr}"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"
BIN_DIR="$CACHE_DIR/bin"
TOOL="${OVERRIDE:-$BIN_DIR/$NAME}"

if [[ -x "$TOOL" ]] && "$TOOL" "${CHECK[@]}" >/dev/null 2>&1; then
    echo "$TOOL"
    exit 0
fi
if [[ -n "$OVERRIDE" ]]; then
    echo "$ME: $OVERRIDE_VAR=$OVERRIDE is not an executable $NAME" >&2
    exit 1
fi
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="$PATH:/usr/local/go/bin"   # the usual install location, not always on PATH
fi
if ! command -v go >/dev/null 2>&1; then
    echo "$ME: the Go toolchain is required to build $NAME (go not on PATH)" >&2
    exit 1
fi

mkdir -p "$BIN_DIR"
echo "$ME: building $NAME ${MODULE##*@} into $BIN_DIR (a few minutes) ..." >&2
start=$SECONDS
GOBIN="$BIN_DIR" go install "$MODULE" >&2
"$TOOL" "${CHECK[@]}" >&2
echo "$ME: built in $((SECONDS - start)) s" >&2
echo "$TOOL"
