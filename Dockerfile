# syntax=docker/dockerfile:1
# One image for every AVRR service (ARCHITECTURE.md section 8): the four
# services and libs/events installed into one virtualenv; the service is the
# argument.
#
#   docker build -t avrr:dev .
#   docker run avrr:dev intake                          # python -m avrr_events.serve intake
#   docker run --entrypoint python avrr:dev -m avrr_events.setup intake   # migrations + topics, exit
#
# Configuration is environment only (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS,
# AVRR_KEYSTORE_URL, AVRR_MASTER_KEY, ...: see deploy/helm/avrr/README.md).
#
# Supply chain: third-party packages come only from requirements.lock, every
# file checked against its hashes (pip --require-hashes --no-deps: nothing
# outside the lock can come in), wheels only, and only the runtime closure of
# what the first-party pyprojects declare (scripts/runtime_requirements.py
# follows the lock's own "via" graph): no test or lint tool is in the image.
# Then the first-party packages, built here from this context, without
# dependencies, and `pip check` proves the closure complete.
#
# `make image` builds it with docker/buildx where an engine runs, otherwise
# with podman/buildah on a Debian bookworm base made by mmdebstrap
# (scripts/image.sh); pip's index configuration and CA bundle reach the build
# as secrets (pip_conf, pip_ca), never as layers.

ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------------ builder --
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY requirements.lock ./
COPY scripts/runtime_requirements.py scripts/
COPY libs/events/pyproject.toml libs/events/
COPY services/intake/pyproject.toml services/intake/
COPY services/eligibility/pyproject.toml services/eligibility/
COPY services/travel/pyproject.toml services/travel/
COPY services/reintegration/pyproject.toml services/reintegration/
# pip's own configuration and CA bundle, when the build was given them.
RUN --mount=type=secret,id=pip_conf,required=false \
    --mount=type=secret,id=pip_ca,required=false \
    set -eu; \
    if [ -s /run/secrets/pip_conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip_conf; fi; \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    python scripts/runtime_requirements.py . > runtime-requirements.txt; \
    python scripts/runtime_requirements.py . --build-backend > build-requirements.txt; \
    python -m venv /opt/avrr; \
    /opt/avrr/bin/pip install --require-hashes --no-deps --only-binary=:all: -r runtime-requirements.txt; \
    python -m venv /opt/build; \
    /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: -r build-requirements.txt

COPY libs/ libs/
COPY services/ services/
# setuptools (the build backend, pinned in the lock) builds the wheels in a
# venv of its own; the copy that venv creation bundles leaves the runtime one.
RUN set -eu; \
    for pkg in libs/events services/*/; do \
      if [ -f "$pkg/pyproject.toml" ]; then \
        /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels "./$pkg"; \
      fi; \
    done; \
    /opt/avrr/bin/pip install --no-deps /wheels/*.whl; \
    /opt/avrr/bin/python -c \
      "from avrr_events.web.embedded import discover; print('services:', *[s.name for s in discover()])"; \
    /opt/avrr/bin/pip uninstall --yes --quiet setuptools 2>/dev/null || true; \
    /opt/avrr/bin/pip check

# ------------------------------------------------------------------ runtime --
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="avrr" \
      org.opencontainers.image.description="AVRR platform services (intake, eligibility, travel, reintegration)"

# A fixed numeric, non-root user: Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 avrr \
 && useradd --system --uid 10001 --gid avrr --home-dir /app --shell /usr/sbin/nologin avrr \
 && mkdir -p /app \
 && chown avrr:avrr /app

COPY --from=builder /opt/avrr /opt/avrr

ENV PATH=/opt/avrr/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AVRR_HOST=0.0.0.0 \
    AVRR_PORT=8000

WORKDIR /app
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('AVRR_PORT', '8000')}/health/live\", timeout=2)"]

ENTRYPOINT ["python", "-m", "avrr_events.serve"]
CMD ["intake"]
