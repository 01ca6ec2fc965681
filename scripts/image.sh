#!/usr/bin/env bash
# Build the platform's image (`make image`): one image for every service.
#
# With a Docker engine: docker buildx, on python:3.11-slim pinned by the digest
# the registry reports at build time (recorded in the image's labels).
# Without one (this project's machines): podman/buildah as root on a Debian
# bookworm base that mmdebstrap makes from Debian's packages (no registry is
# needed), cached in $AVRR_CACHE_DIR/image between runs.
#
# pip inside the build reaches the package index with the host's own pip
# configuration and CA bundle, passed as build secrets (never image layers).
#
#   scripts/image.sh            build, print the tag and the image's size
#   scripts/image.sh podman ARGS...
#                               podman with this machine's required flags
#
# Environment:
#   AVRR_IMAGE        tag            (default localhost/avrr:dev)
#   AVRR_CACHE_DIR    base rootfs    (default ~/.cache/avrr)
#   AVRR_IMAGE_ENGINE docker|podman  (default: docker if its engine answers)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAG="${AVRR_IMAGE:-localhost/avrr:dev}"
CACHE_DIR="${AVRR_CACHE_DIR:-${HOME:-/root}/.cache/avrr}/image"
BASE_TAR="$CACHE_DIR/bookworm-python3.tar"
BASE_IMAGE=localhost/avrr-base:bookworm
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates,passwd
REGISTRY_BASE=python:3.11-slim

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

# podman 4.3 as root in this sandbox: cgroupfs (no systemd), runc, vfs storage,
# the host's network, and explicit ulimits (its defaults need a capability
# the sandbox does not grant).
PODMAN_GLOBAL=(--cgroup-manager cgroupfs --runtime runc --storage-driver vfs)
# Limits no higher than this process's own hard limits, and nproc at most
# 16384 (runc was refused 65536 here although the hard limit was higher).
NOFILE="$(ulimit -Hn)"
NPROC="$(ulimit -Hu)"
[[ "$NOFILE" == unlimited || "$NOFILE" -gt 65536 ]] && NOFILE=65536
[[ "$NPROC" == unlimited || "$NPROC" -gt 16384 ]] && NPROC=16384
PODMAN_LIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC" --network host)

pod() { podman "${PODMAN_GLOBAL[@]}" "$@"; }

# The host's pip configuration file and CA bundle, for the build's secrets.
pip_secrets() { # engine-style --secret arguments on stdout, one per line
  local conf ca
  conf="${PIP_CONFIG_FILE:-}"
  [[ -n "$conf" && -f "$conf" ]] || conf="$(pip config debug 2>/dev/null |
    sed -n 's/^  \(\/[^,]*\), exists: True$/\1/p' | tail -1)"
  [[ -n "$conf" && -f "$conf" ]] || { [[ -f /etc/pip.conf ]] && conf=/etc/pip.conf; }
  ca="${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}"
  [[ -n "$ca" && -f "$ca" ]] || { [[ -f /etc/ssl/certs/ca-certificates.crt ]] && ca=/etc/ssl/certs/ca-certificates.crt; }
  [[ -n "${conf:-}" && -f "$conf" ]] && printf -- '--secret\nid=pip_conf,src=%s\n' "$conf"
  [[ -n "${ca:-}" && -f "$ca" ]] && printf -- '--secret\nid=pip_ca,src=%s\n' "$ca"
  return 0
}

engine() {
  if [[ -n "${AVRR_IMAGE_ENGINE:-}" ]]; then
    echo "$AVRR_IMAGE_ENGINE"
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
  else
    echo podman
  fi
}

podman_base() {
  if pod image exists "$BASE_IMAGE"; then
    return 0
  fi
  command -v mmdebstrap >/dev/null 2>&1 ||
    die "mmdebstrap not found: apt-get install podman buildah runc mmdebstrap"
  mkdir -p "$CACHE_DIR"
  if [[ ! -s "$BASE_TAR" ]]; then
    log "making the base rootfs (Debian bookworm: $BASE_PACKAGES) with mmdebstrap"
    # The output's ".tar" suffix is what makes mmdebstrap write a tarball.
    rm -f "$CACHE_DIR/partial.tar"
    mmdebstrap --quiet --variant=minbase --include="$BASE_PACKAGES" bookworm "$CACHE_DIR/partial.tar" ||
      die "mmdebstrap failed"
    mv "$CACHE_DIR/partial.tar" "$BASE_TAR"
  fi
  log "importing $BASE_TAR as $BASE_IMAGE"
  pod import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
}

build_podman() {
  command -v podman >/dev/null 2>&1 ||
    die "neither a Docker engine nor podman: apt-get install podman buildah runc mmdebstrap"
  podman_base
  local secrets=()
  mapfile -t secrets < <(pip_secrets)
  log "building $TAG with podman on $BASE_IMAGE"
  # No intermediate layers: on vfs storage each one is a full copy of the rootfs.
  pod build "${PODMAN_LIMITS[@]}" --layers=false "${secrets[@]}" \
    --build-arg PYTHON_IMAGE="$BASE_IMAGE" -t "$TAG" -f "$REPO/Dockerfile" "$REPO" >&2
  local bytes
  bytes="$(pod image inspect --format '{{.Size}}' "$TAG")"
  printf '%s %s MB\n' "$TAG" "$((bytes / 1000000))"
}

build_docker() {
  local digest secrets=()
  digest="$(docker buildx imagetools inspect "$REGISTRY_BASE" --format '{{json .Manifest.Digest}}' | tr -d '"')" ||
    die "could not resolve $REGISTRY_BASE's digest"
  mapfile -t secrets < <(pip_secrets)
  log "building $TAG with docker on $REGISTRY_BASE@$digest"
  docker buildx build --load "${secrets[@]}" \
    --build-arg PYTHON_IMAGE="$REGISTRY_BASE@$digest" \
    --label "org.opencontainers.image.base.name=$REGISTRY_BASE@$digest" \
    -t "$TAG" "$REPO" >&2
  local bytes
  bytes="$(docker image inspect --format '{{.Size}}' "$TAG")"
  printf '%s %s MB\n' "$TAG" "$((bytes / 1000000))"
}

case "${1:-build}" in
  build)
    case "$(engine)" in
      docker) build_docker ;;
      podman) build_podman ;;
      *) die "unknown AVRR_IMAGE_ENGINE $(engine)" ;;
    esac
    ;;
  podman)
    shift
    pod "$@"
    ;;
  *)
    echo "usage: $0 [build | podman ARGS...]" >&2
    exit 2
    ;;
esac
