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
# outside the lock can come in), wheels only. That is the exact set the tests
# run on (`make install`), test and lint tools included: a leaner image with
# only the runtime closure of the first-party packages (uv resolving them with
# requirements.lock as hash-carrying constraints) works once every pyproject
# declares what its code imports; today libs/events imports jwt and
# opentelemetry without declaring them. Then the first-party packages, built
# here from this context, without dependencies (they are all in the lock).

ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------------ builder --
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/avrr \
 && /opt/avrr/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements.lock

COPY libs/ libs/
COPY services/ services/
# setuptools (the build backend) is pinned in the lock, hence no build isolation.
RUN set -eu; \
    for pkg in libs/events services/*/; do \
      if [ -f "$pkg/pyproject.toml" ]; then \
        /opt/avrr/bin/pip install --no-deps --no-build-isolation "./$pkg"; \
      fi; \
    done; \
    /opt/avrr/bin/python -c \
      "from avrr_events.embedded import discover; print('services:', *[s.name for s in discover()])"

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
