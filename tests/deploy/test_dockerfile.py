"""Dockerfile and .dockerignore: what can be checked without a Docker engine.

No engine (and no hadolint) here, so the image is not built by the tests.
These checks catch what most often breaks an unbuilt Dockerfile: exec-form
instructions that are not valid JSON, sources that are missing or excluded
from the build context, a root user, an entrypoint that does not exist.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out: list[tuple[str, str]] = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def ignore_pattern_matches(pattern: str, path: str) -> bool:
    """Docker's rule, simplified: a pattern that matches a folder matches what is inside."""
    parts = path.split("/")
    for n in range(1, len(parts) + 1):
        if fnmatch.fnmatch("/".join(parts[:n]), pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatch(parts[n - 1], pattern[3:]):
            return True
    return False


def context_includes(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (the last match wins)."""
    included = True
    for raw in (REPO / ".dockerignore").read_text("utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        if ignore_pattern_matches(pattern.lstrip("!").rstrip("/"), path):
            included = negate
    return included


def test_exec_form_instructions_are_json() -> None:
    for keyword in ("ENTRYPOINT", "CMD"):
        for rest in of(keyword):
            assert isinstance(json.loads(rest), list), f"{keyword} {rest}"
    (healthcheck,) = of("HEALTHCHECK")
    command = healthcheck.split(" CMD ", 1)[1]
    probe = json.loads(command)
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "<healthcheck>", "exec")


def test_entrypoint_runs_a_service_module_that_exists() -> None:
    (entrypoint,) = of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m", "avrr_events.serve"]
    for module in ("avrr_events.serve", "avrr_events.setup"):
        assert importlib.util.find_spec(module) is not None, module


def test_runtime_image_is_slim_python_and_not_root() -> None:
    assert of("ARG")[0] == "PYTHON_IMAGE=python:3.11-slim"
    stages = of("FROM")
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    (user,) = of("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root user (runAsNonRoot checks it)"


def test_third_party_packages_only_from_the_lock_with_hashes() -> None:
    runs = " ".join(of("RUN"))
    assert "--require-hashes" in runs
    # The runtime closure of the lock (scripts/runtime_requirements.py), hashes included.
    assert "scripts/runtime_requirements.py" in runs
    assert "-r runtime-requirements.txt" in runs
    assert "--no-deps" in runs
    assert "--only-binary=:all:" in runs


def test_copied_sources_exist_and_reach_the_build_context() -> None:
    for rest in of("COPY"):
        if rest.startswith("--from="):
            continue
        *sources, _destination = rest.split()
        for source in sources:
            path = source.rstrip("/")
            assert (REPO / path).exists(), source
            assert context_includes(path), f"{source} is excluded by .dockerignore"


def test_the_build_context_leaves_out_local_state() -> None:
    for path in (".venv", ".infra", ".git", ".avrr-data", "benchmarks", "deploy", "tests"):
        assert not context_includes(path), path
    for path in ("libs/events/.venv", "services/intake/tests", "libs/events/build"):
        assert not context_includes(path), path
    for path in ("requirements.lock", "libs/events/pyproject.toml", "services/intake"):
        assert context_includes(path), path


def test_the_runtime_closure_holds_what_the_services_need_and_no_tools() -> None:
    """What the image installs: every declared dependency with its lock pin, no test tool."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "runtime_requirements", REPO / "scripts" / "runtime_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    names = {pin.name for pin in module.runtime_pins(REPO)}
    assert {"fastapi", "uvicorn", "uvloop", "asyncpg", "aiokafka", "alembic", "pyjwt"} <= names
    assert names & {"pytest", "ruff", "mypy", "schemathesis", "hypothesis", "setuptools"} == set()
