# AVRR platform -- developer entry points (see ARCHITECTURE.md section 8).
#
#   make install       .venv from requirements.lock (hash-checked) + editable packages
#   make lock          recompile requirements.in -> requirements.lock (exact versions + hashes)
#   make infra-up      local Kafka (KRaft) + PostgreSQL on 127.0.0.1 (scripts/infra.sh)
#   make infra-down / infra-status
#   make lint          ruff + mypy
#   make test          install, infra (or testcontainers if a Docker engine exists), lint, pytest
#   make run           embedded single-process platform
#   make up / down     every service as its own process on the local Kafka + PostgreSQL
#   make promtool      promtool (Go module proxy, cached) for the alert-rule tests; slow to build, not run by make test
#   make image         the platform's image (docker/buildx, or podman/buildah on a Debian base here); prints its size
#   make bench         benchmarks against the local infra (BENCH_ARGS=--quick for a short run)
#   make chaos         2,000 lifecycles under SIGKILLs, broker and database restarts, poison (45 min bound; CHAOS_ARGS="--cases 200 --max-minutes 10" for less)
#   make messages-extract / messages-update / messages-compile   gettext catalogs of every service with a locale/ (Babel)
#   make clean         caches and build artifacts (keeps .venv and .infra)
#   make distclean     clean + stop infra + delete .venv and all infra state

SHELL       := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
UV          := $(VENV)/bin/uv
UV_VERSION  := 0.13.9
INFRA       := scripts/infra.sh

# Every first-party package that has a pyproject.toml (installed editable).
PKG_PYPROJECTS := $(wildcard libs/events/pyproject.toml services/*/pyproject.toml)
INSTALL_STAMP  := $(VENV)/.install.stamp
UV_STAMP       := $(VENV)/.uv-$(UV_VERSION).stamp

UP := scripts/platform.sh

.PHONY: messages-extract messages-update messages-compile image up down helm promtool help install lock infra-up infra-down infra-status lint test run bench chaos clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# ------------------------------------------------------------------ install --
$(PY):
	$(PYTHON) -m venv $(VENV)

$(UV_STAMP): | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $@

install: $(INSTALL_STAMP)

$(INSTALL_STAMP): requirements.lock $(PKG_PYPROJECTS) $(UV_STAMP)
	$(UV) pip sync --python $(PY) --require-hashes requirements.lock
	for d in libs/events services/*; do \
	  if [ -f "$$d/pyproject.toml" ]; then \
	    $(UV) pip install --python $(PY) --no-deps --no-build-isolation -e "$$d"; \
	  fi; \
	done
	touch $@

lock: $(UV_STAMP)
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11 requirements.in -o requirements.lock

# -------------------------------------------------------------------- infra --
infra-up:
	$(INFRA) up

infra-down:
	$(INFRA) down

infra-status:
	$(INFRA) status

# ------------------------------------------------------------- lint & test --
# mypy runs once per package: every package's tests have a conftest.py and
# helper modules of their own, which one mypy run would see as duplicates.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy
	MYPYPATH=tests:services/intake:services/eligibility:services/travel:services/reintegration $(PY) -m mypy tests
	for d in services/*; do \
	  if [ -f "$$d/pyproject.toml" ]; then \
	    echo "mypy $$d"; MYPYPATH="$$d:$$d/tests" $(PY) -m mypy "$$d"; \
	  fi; \
	done

# With a Docker engine the test fixtures start testcontainers themselves;
# without one, scripts/infra.sh provisions Kafka + PostgreSQL on 127.0.0.1.
# helm for the chart tests (tests/deploy): built once from the Go module proxy
# (about 4 min), then cached in ~/.cache/avrr/bin.
helm:
	scripts/helm.sh

# promtool for tests/deploy/test_alert_rules.py (promtool check/test rules on
# the chart's PrometheusRule), built the same way into ~/.cache/avrr/bin. Not a
# prerequisite of `test`: a first build took 32 min here (12 CPU-minutes on the
# 2 shared cores), too much for CI's budget; without it that test is skipped
# and tests/deploy/test_monitoring.py still checks the series the rules name.
promtool:
	scripts/promtool.sh

test: install helm
	if docker info >/dev/null 2>&1; then \
	  echo "Docker engine available: tests use testcontainers"; \
	  export AVRR_USE_TESTCONTAINERS=1; \
	else \
	  $(INFRA) up; \
	  eval "$$($(INFRA) env)"; \
	fi; \
	$(MAKE) --no-print-directory lint; \
	rc=0; $(PY) -m pytest || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5)" >&2; fi; \
	exit "$$rc"

# ----------------------------------------------------------------- messages --
# Notices in the person's language (issue 19, avrr_events.notices): each
# service with a locale/ folder has its own gettext domain, named after its
# package. extract: the code's messages -> locale/<domain>.pot; update: the
# .pot into each language's .po (created for a language that has none);
# compile: .po -> .mo. The .mo are committed (a fresh clone, `make run` and
# the image need no build step); tests/test_translations.py fails when a .pot,
# .po or .mo is stale or a translation is missing. A service joins by having a
# locale/ folder (mkdir, then extract + update + compile). pybabel comes with
# `make install` (babel is in the lock).
NOTICE_LANGUAGES := en es pt fr ht
# The library's catalog (avrr_events.notices.rights) holds the sentences every notice shares.
MESSAGE_PACKAGES := $(patsubst %/locale,%,$(wildcard services/*/avrr_*/locale libs/events/avrr_events/locale))
PYBABEL := $(VENV)/bin/pybabel

messages-extract:
	for pkg in $(MESSAGE_PACKAGES); do \
	  domain=$$(basename $$pkg); \
	  $(PYBABEL) --quiet extract -F babel.cfg --no-location --sort-output \
	    --project=$$domain --copyright-holder="AVRR platform" \
	    -o $$pkg/locale/$$domain.pot $$pkg; \
	done

messages-update:
	for pkg in $(MESSAGE_PACKAGES); do \
	  domain=$$(basename $$pkg); \
	  for lang in $(NOTICE_LANGUAGES); do \
	    if [ -f $$pkg/locale/$$lang/LC_MESSAGES/$$domain.po ]; then \
	      $(PYBABEL) --quiet update --no-fuzzy-matching --ignore-obsolete -D $$domain -l $$lang \
	        -i $$pkg/locale/$$domain.pot -d $$pkg/locale; \
	    else \
	      $(PYBABEL) --quiet init -D $$domain -l $$lang -i $$pkg/locale/$$domain.pot -d $$pkg/locale; \
	    fi; \
	  done; \
	done

messages-compile:
	for pkg in $(MESSAGE_PACKAGES); do \
	  $(PYBABEL) compile --statistics -D $$(basename $$pkg) -d $$pkg/locale; \
	done

# ---------------------------------------------------------------------- image --
# The deployment rehearsal (tests/deploy/test_deployment_rehearsal.py) builds it too.
image:
	scripts/image.sh

# ---------------------------------------------------------------------- run --
run: install
	$(PY) -m avrr_events.web.embedded

# Bench-only tools (pyeventsourcing, psycopg, pyinstrument) go into the venv
# here, from their own pinned list: they are never a dependency of a service.
up: install
	$(UP) up

down:
	$(UP) down

bench: install infra-up
	$(UV) pip install --quiet --python $(PY) --require-hashes -r benchmarks/requirements.txt
	eval "$$($(INFRA) env)"; \
	$(PY) -m benchmarks $(BENCH_ARGS)

# Its own PostgreSQL (:25432) and Kafka (:29092) in /var/tmp/avrr-chaos, started
# and stopped by the run: the shared local infra is never touched (chaos/).
chaos: install
	$(PY) -m chaos $(CHAOS_ARGS)

# -------------------------------------------------------------------- clean --
clean:
	find . -path ./$(VENV) -prune -o -path ./.infra -prune -o -path ./.git -prune -o \
	  \( -name __pycache__ -o -name '*.egg-info' -o -name .mypy_cache -o -name .ruff_cache \
	     -o -name .pytest_cache \) -prune -exec rm -rf {} +
	rm -rf build dist htmlcov libs/*/build libs/*/dist services/*/build services/*/dist
	rm -f .coverage .coverage.* coverage.xml $(INSTALL_STAMP)

distclean: clean
	$(INFRA) destroy
	rm -rf $(VENV)
