"""The library's layers, as a reader sees them in its folders, kept by its imports.

- the core (the modules at the top of ``avrr_events``): events, aggregates, the
  store, projections, the consumer loop, settings; no web framework, no driver;
- ``adapters/``: Kafka, the in-process bus, PostgreSQL and SQLite (the drivers);
- ``web/``: everything that imports FastAPI or Starlette;
- ``cli/``: the ``avrr`` command line, one module per command group;
- the composition modules, which put the whole platform together (a process,
  the set-up job, the map of every service, the Kafka ACLs, the test fixtures).

Read from the source (the ast of every module), so a test that imports nothing
catches an import added anywhere, however deep in a function it hides.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from avrr_events.testing import parsed

PACKAGE = Path(__file__).resolve().parents[1] / "avrr_events"
COMPOSITION = {"serve", "setup", "testing", "harness", "event_map", "kafka_acls"}
WEB = ("fastapi", "starlette")
DRIVERS = ("asyncpg", "aiokafka", "confluent_kafka", "aiosqlite", "psycopg", "psycopg2")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    """Every module of the package except the Alembic revisions (data, not code)."""
    return {
        module_name(p): parsed(p)
        for p in sorted(PACKAGE.rglob("*.py"))
        if not any(part.endswith("_migrations") for part in p.parts)
    }


MODULES = modules()


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("adapters", "web", "cli"):
        return parts[1]
    if len(parts) == 2 and parts[1] in COMPOSITION:
        return "composition"
    return "core"


def imports(tree: ast.Module, *, top_level_only: bool = False) -> Iterator[str]:
    """Absolute names of what a module imports (``from x import y`` yields ``x.y``)."""
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # and the blocks of ``if TYPE_CHECKING:`` (mypy reads them too)
        nodes = [*nodes, *(n for s in tree.body if isinstance(s, ast.If) for n in s.body)]
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from package import module`` imports that module (its package is
            # imported first by any import of one of its modules, a cycle of none)
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            modules = [name for name in names if name in MODULES]
            yield from modules or [node.module, *names]


def offending(module: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted({name for name in imports(MODULES[module]) if name.split(".")[0] in forbidden})


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) != "web"))
def test_only_web_imports_fastapi_or_starlette(module: str) -> None:
    assert offending(module, WEB) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in ("core", "web")))
def test_drivers_stay_in_the_adapters(module: str) -> None:
    assert offending(module, DRIVERS) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "core"))
def test_the_core_imports_no_web_cli_or_composition_module(module: str) -> None:
    above = {
        name
        for name in imports(MODULES[module])
        if name in MODULES and layer(name) in ("web", "cli", "composition")
    }
    assert sorted(above) == []


def test_the_package_has_no_import_circle() -> None:
    """Module-level imports (with the ``TYPE_CHECKING`` ones) form no cycle."""
    graph = {
        module: {
            name
            for name in imports(tree, top_level_only=True)
            if name in MODULES and name != module and name != "avrr_events"
        }
        for module, tree in MODULES.items()
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                circles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert circles == []


SERVICES = Path(__file__).resolve().parents[3] / "services"


def test_advisory_lock_sql_is_written_only_in_adapters_postgres() -> None:
    """Every advisory lock goes through ``adapters.postgres`` (``lock_until_commit`` and
    its kin): one key derivation, one place that writes the SQL, no service's own."""
    sources = [p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "adapters" / "postgres.py"]
    sources += [p for p in SERVICES.glob("*/avrr_*/**/*.py")]
    writing = [
        str(p)
        for p in sources
        if "pg_advisory" in p.read_text() or "pg_try_advisory" in p.read_text()
    ]
    assert len(sources) > 100
    assert writing == []
