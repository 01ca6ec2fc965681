"""Schema migrations (Alembic), written once for every service.

Three migration lines reach a service's databases:

- the platform line (``PLATFORM``, in this package: ``platform_migrations/``):
  the tables every service database has (``tables.py``: events, outbox,
  inbox, idempotency keys, consumer positions, projection checkpoints, and
  ``audit.py``'s audit log). A change to a shared table is one revision here
  (``avrr migrations new platform "<what changed>"``), not one per service.
  Version table ``alembic_version_platform``. A database made before this
  line existed (its services' early revisions created the shared tables)
  has them as the line's first revision makes them: ``avrr setup`` stamps it
  there once (``_adopt``) and upgrades it from there.
- the service's own line (``Service.migrations``: a folder holding only
  ``versions/``, inside the service package): that service's read models,
  nothing else. Its version table is ``alembic_version_<service>``, so a
  database names which service's history it follows. (Its first revisions
  once created the shared tables too; they are empty now, kept so that
  databases at them keep their history.)
- the key-store line (``KEYSTORE``, in this package): the per-person key
  table. The key store may be one database shared by every service
  (``AVRR_KEYSTORE_URL``), so its schema belongs to no service: every service's
  setup upgrades it (version table ``alembic_version_keystore``), and upgrades
  are serialised by an advisory lock, so four setup Jobs running at once apply
  each revision exactly once. Without ``AVRR_KEYSTORE_URL`` the line runs in
  the service's own database.

``migrate`` (what ``avrr setup`` / ``python -m avrr_events.setup`` runs)
upgrades both lines to their heads; ``require_current`` is the start-up check:
a service refuses to start on a database that is not at head, naming the
service, the revisions and the command to run. Only the embedded default
(``make run``, SQLite; also a service run without DATABASE_URL, on its local
SQLite file) migrates at start-up (``AVRR_MIGRATE_ON_START``): one developer,
one process, no setup step to forget.

The setup Job runs before a release's new pods replace the old ones, so a
revision must keep the previous release working (add columns and tables now,
drop what it no longer reads a release later); a replica whose database is
past its own head (a newer release's revisions) therefore starts, warned.

Revisions are plain Alembic revision files (``op.create_table``,
``op.add_column`` ...); what several services' revisions do alike (a table
each of them has, a data migration) is written once in ``migration_ops`` and
called with the service's names. SQLite alters tables only through
``op.batch_alter_table``, which also works on PostgreSQL: use it for every
column change. Each upgrade runs in ONE transaction (both databases have
transactional DDL), so a failed revision leaves the previous schema intact.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.functions import FunctionElement

from avrr_events import audit, tables
from avrr_events.adapters.database import SCHEMA_LOCK, Database
from avrr_events.adapters.postgres import lock_until_commit

if TYPE_CHECKING:
    from avrr_events.settings import ServiceSettings


class Service(Protocol):
    """What migrations read of a service (``web.service.Service``): its name, its own
    Alembic folder and its read models; a protocol, so the runtime imports this module
    and not the other way round."""

    name: str
    migrations: Path | None
    read_models: Sequence[MetaData]


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MigrationLine:
    """One history of schema revisions: where its revisions are and which tables it owns."""

    name: str
    directory: Path
    schema: tuple[Table, ...]
    # The revision a database made before this line existed is at, when its tables are as
    # that revision makes them (None: only a database whose tables are head's is adopted).
    adopted_at: str | None = None

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def script(self) -> ScriptDirectory:
        return ScriptDirectory(str(self.directory))

    def heads(self) -> tuple[str, ...]:
        """The revisions a database at head is at."""
        return tuple(sorted(self.script().get_heads()))

    def metadata(self) -> MetaData:
        """The tables this line must produce, as one MetaData (for autogenerate's comparison)."""
        merged = MetaData()
        for table in self.schema:
            table.to_metadata(merged)
        return merged


KEYSTORE = MigrationLine(
    name="keystore",
    directory=Path(__file__).with_name("keystore_migrations"),
    schema=(tables.subject_keys,),
)


def shared_tables() -> tuple[Table, ...]:
    """The tables every service database has (the key table has a line of its own)."""
    shared = [t for t in tables.metadata.sorted_tables if t is not tables.subject_keys]
    return (*shared, *audit.metadata.sorted_tables)


PLATFORM = MigrationLine(
    name="platform",
    directory=Path(__file__).with_name("platform_migrations"),
    schema=shared_tables(),
    adopted_at="platform_0001",  # what the services' early revisions made
)


def service_line(service: Service) -> MigrationLine | None:
    """The service's own migration line; None for a service that declares none."""
    if service.migrations is None:
        return None
    read_models = [t for md in service.read_models for t in md.sorted_tables]
    return MigrationLine(
        name=service.name,
        directory=Path(service.migrations),
        schema=tuple(read_models),
    )


class SchemaNotCurrent(RuntimeError):
    """A database is not at the head of a migration line: the service must not start on it."""

    def __init__(
        self, service: str, line: MigrationLine, current: Sequence[str], expected: Sequence[str]
    ) -> None:
        self.service = service
        self.line = line
        self.current = tuple(current)
        self.expected = tuple(expected)
        what = "database" if line.name in (service, "platform") else f"{line.name} database"
        super().__init__(
            f"{service}: the {what} is not migrated "
            f"(schema revision {', '.join(self.current) or 'none'}, "
            f"expected {', '.join(self.expected)} in {line.version_table}); "
            f"run `avrr setup {service}` (or `python -m avrr_events.setup {service}`) "
            "with the same DATABASE_URL and AVRR_KEYSTORE_URL first"
        )


class UnversionedService(RuntimeError):
    """An installed service without a migration line: its schema would have no history."""


class PredatesMigrations(RuntimeError):
    """A database with a line's tables but no revision that differ from head: not ours to guess."""


def _adopt(connection: Connection, line: MigrationLine) -> bool:
    """Stamp a database made before migrations existed (tables, no revision) at head.

    Only when the tables it has are exactly the head's (autogenerate finds no
    difference in them): the tables it lacks are created as head has them, and
    then head is what it is. A line whose early databases are at an older
    revision (``adopted_at``: the platform line's, made by the services' early
    revisions) is stamped there and upgraded from it, and must then be head.
    A difference in an existing table is refused, with the differences named:
    which revision such a database is at is a person's call. Returns whether
    the database was such a one.
    """
    if _current(connection, line):
        return False
    owned = {t.name for t in line.schema}
    if not owned & set(inspect(connection).get_table_names()):
        return False
    diff = _compare(connection, line)
    missing = {d[1].name for d in diff if isinstance(d, tuple) and d[0] == "add_table"}
    in_existing = [d for d in diff if _table_of(d) not in missing]
    head = line.metadata()
    head.create_all(connection, tables=[head.tables[name] for name in sorted(missing)])
    context = MigrationContext.configure(connection, opts={"version_table": line.version_table})
    if in_existing and line.adopted_at is not None:
        context.stamp(line.script(), line.adopted_at)
        _run_revisions(connection, line, "heads")
        in_existing = _compare(connection, line)
    if in_existing:
        where = connection.engine.url.render_as_string(hide_password=True)
        raise PredatesMigrations(
            f"{line.name}: the database {where} has tables but no schema revision "
            f"({line.version_table} is missing: it predates migrations) and they differ "
            f"from head {', '.join(line.heads())}: {_summary(in_existing)}. Migrate it by "
            "hand and stamp it, or recreate it (development data)"
        )
    if not _current(connection, line):
        context.stamp(line.script(), "heads")
    return True


def _summary(diff: list[Any]) -> str:
    names = []
    for item in diff[:5]:
        first = item[0] if isinstance(item, list) else item
        names.append(f"{first[0]} {getattr(first[-1], 'name', '') or first[-1]}")
    return "; ".join(names) + (" ..." if len(diff) > 5 else "")


def _upgrade(connection: Connection, line: MigrationLine, to: str = "heads") -> None:
    if to == "heads" and _adopt(connection, line):
        return
    _run_revisions(connection, line, to)


def _run_revisions(connection: Connection, line: MigrationLine, to: str) -> None:
    """Run the revisions from where the database is to ``to``, in the caller's transaction."""
    script = line.script()

    def steps(revision: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs(to, revision)

    with EnvironmentContext(Config(), script, fn=steps, destination_rev=to) as env:
        env.configure(connection=connection, version_table=line.version_table)
        with env.begin_transaction():
            env.run_migrations()


def _current(connection: Connection, line: MigrationLine) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table": line.version_table})
    return tuple(sorted(context.get_current_heads()))


async def upgrade(db: Database, line: MigrationLine, to: str = "heads") -> None:
    """Bring one database to the head of one line; safe when several processes run it at once.

    The whole upgrade is one transaction holding the database's schema
    advisory lock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises it anyway):
    a second setup waits, then finds the database at head and does nothing.

    ``to`` names an earlier revision instead: a test of a revision that moves
    data fills the tables as the revision before it left them.
    """
    async with db.transaction() as conn:
        await lock_until_commit(conn, SCHEMA_LOCK)
        await conn.run_sync(_upgrade, line, to)


async def current(db: Database, line: MigrationLine) -> tuple[str, ...]:
    """The revisions of ``line`` the database is at (empty: never migrated)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current, line)


async def check(db: Database, line: MigrationLine, service: str) -> None:
    """Raise ``SchemaNotCurrent`` unless the database is at the line's head (or past it).

    Past it means at revisions this code does not know: a newer release's
    setup Job ran while this replica (the previous release, in a rolling
    upgrade, or after a rollback of the code) restarts. Revisions keep the
    previous release working (expand now, contract a release later), so it
    starts, with a warning. Behind head, or never migrated, it must not.
    """
    expected = line.heads()
    found = await current(db, line)
    if found == expected:
        return
    known = {script.revision for script in line.script().walk_revisions()}
    if found and not known.intersection(found):
        log.warning(
            "%s: the %s schema is at %s, newer than this code's head %s (a newer release "
            "migrated it); starting, as revisions stay compatible with the previous release",
            service,
            line.name,
            ", ".join(found),
            ", ".join(expected),
        )
        return
    raise SchemaNotCurrent(service, line, found, expected)


async def apply(service: Service, db: Database, keys: Database) -> None:
    """Upgrade the service's database and its key store (``keys``, may be ``db``) to head.

    A service without a migration line (a library test's sample) has no
    history to follow: its tables are created from its metadata instead.
    """
    line = service_line(service)
    if line is None:
        await db.create_schema(*service.read_models, audit.metadata)
        if keys is not db:
            await keys.create_tables(tables.subject_keys)
        return
    await upgrade(db, PLATFORM)
    await upgrade(db, line)
    await upgrade(keys, KEYSTORE)


async def verify(service: Service, db: Database, keys: Database) -> None:
    """Raise ``SchemaNotCurrent`` unless both databases are at head.

    Raises ``UnversionedService`` for a service without a migration line: a
    process serving it could only create tables behind the deployment's back.
    """
    line = service_line(service)
    if line is None:
        raise UnversionedService(
            f"{service.name} declares no migrations (Service.migrations): "
            "an installed service's schema must come from its migration line"
        )
    await check(db, line, service.name)
    await check(db, PLATFORM, service.name)
    await check(keys, KEYSTORE, service.name)


@asynccontextmanager
async def _databases(settings: ServiceSettings) -> AsyncIterator[tuple[Database, Database]]:
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is not set: no database to migrate")
    db = Database(settings.database_url, pool_size=1)
    keys = db
    try:
        if settings.keystore_url and settings.keystore_url != settings.database_url:
            keys = Database(settings.keystore_url, pool_size=1)
        yield db, keys
    finally:
        if keys is not db:
            await keys.dispose()
        await db.dispose()


async def migrate(service: Service, settings: ServiceSettings) -> None:
    """Upgrade the service's database and its key store to head (``avrr setup``)."""
    async with _databases(settings) as (db, keys):
        await apply(service, db, keys)


async def require_current(service: Service, settings: ServiceSettings) -> None:
    """``verify`` on the databases the settings name (the pre-flight of ``serve``)."""
    async with _databases(settings) as (db, keys):
        await verify(service, db, keys)


@dataclass(frozen=True)
class LineStatus:
    """Where one database stands on one migration line."""

    line: MigrationLine
    current: tuple[str, ...]
    heads: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return self.current == self.heads


async def status(service: Service, settings: ServiceSettings) -> list[LineStatus]:
    """The service's database and key store against the heads of their lines."""
    line = service_line(service)
    if line is None:
        raise UnversionedService(f"{service.name} declares no migrations (Service.migrations)")
    async with _databases(settings) as (db, keys):
        return [
            LineStatus(which, await current(target, which), which.heads())
            for target, which in ((db, PLATFORM), (db, line), (keys, KEYSTORE))
        ]


def refuse_unless_current(service: Service, settings: ServiceSettings) -> None:
    """Exit with status 1 and the reason on stderr unless the databases are at head.

    ``serve`` calls it before the server starts, so an operator reads one line
    (service, revisions, command to run) instead of a start-up traceback. With
    ``migrate_on_start`` (or no DATABASE_URL: a local SQLite file) the runtime
    migrates instead, and there is nothing to refuse.
    """
    if settings.migrate_on_start or settings.database_url is None:
        return
    try:
        asyncio.run(require_current(service, settings))
    except (SchemaNotCurrent, UnversionedService) as exc:
        raise SystemExit(str(exc)) from None
    except (OSError, SQLAlchemyError) as exc:  # one line: a traceback's locals hold the URL
        raise SystemExit(
            f"{service.name}: cannot read the schema revision: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        ) from None


def _compare(connection: Connection, line: MigrationLine) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"version_table": line.version_table})
    diff = compare_metadata(context, line.metadata())
    return [d for d in diff if not _of_another_line(d, line)]


def _table_of(difference: Any) -> str | None:
    """The table a difference from autogenerate is about."""
    first = difference[0] if isinstance(difference, list) else difference
    kind, obj = first[0], first[1]
    if kind.endswith("_table"):
        return str(obj.name)
    if kind.endswith(("_index", "_constraint")):
        table = getattr(obj, "table", None)
        return None if table is None else str(table.name)
    return str(first[2])  # add_column / remove_column / modify_*: (kind, schema, table, ...)


def _of_another_line(difference: Any, line: MigrationLine) -> bool:
    """About a table of another line sharing the database (version tables included).

    A service database holds the platform line's tables, the service line's
    and perhaps the key store's: the key store and the platform line see only
    their own tables; a service line sees every table but theirs (so a read
    model dropped from code without a revision still shows).
    """
    table = _table_of(difference)
    if line is KEYSTORE or line.name == PLATFORM.name:
        return table not in {t.name for t in line.schema}
    others = {t.name for t in (*KEYSTORE.schema, *PLATFORM.schema)}
    return table is not None and (table.startswith("alembic_version_") or table in others)


async def differences(db: Database, line: MigrationLine) -> list[Any]:
    """What autogenerate would change in a database to match the line's tables (empty: none).

    A test migrates a fresh database to head and expects no difference: a table
    changed in code without a revision fails it.
    """
    async with db.engine.connect() as conn:
        return await conn.run_sync(_compare, line)


# The revision says its id and its parent once, in code (``revision``,
# ``down_revision``); Alembic's ``branch_labels`` and ``depends_on`` default to None.
_REVISION = '''"""{title}

Create Date: {date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
{dialects}
revision = "{revision}"
down_revision: str | None = {down_repr}


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def _portable(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Render ``server_default=func.now()`` as itself, not as one dialect's spelling of it."""
    if kind == "server_default":
        arg = getattr(obj, "arg", obj)
        if isinstance(arg, FunctionElement):
            return f"sa.func.{arg.name}()"
    return False


def _render(connection: Connection, line: MigrationLine) -> tuple[str, str] | None:
    context = MigrationContext.configure(
        connection,
        opts={
            "version_table": line.version_table,
            "render_as_batch": True,
            "render_item": _portable,
        },
    )
    produced = produce_migrations(context, line.metadata())
    assert produced.upgrade_ops is not None and produced.downgrade_ops is not None
    if produced.upgrade_ops.is_empty():
        return None

    def body(ops: Any) -> str:
        code = render_python_code(
            ops, render_as_batch=True, migration_context=context, render_item=_portable
        )
        lines = [ln for ln in code.strip("\n").splitlines() if "### " not in ln]
        rendered = "\n".join(ln if ln.startswith("    ") else f"    {ln}" for ln in lines)
        return rendered.replace("astext_type=Text()", "astext_type=sa.Text()")

    return body(produced.upgrade_ops), body(produced.downgrade_ops)


async def write_revision(line: MigrationLine, message: str) -> Path | None:
    """Write the next revision of ``line``: what its tables changed since its head.

    Autogenerate compares a scratch SQLite database upgraded to head with the
    tables in code and renders the operations in batch mode (portable to
    SQLite and PostgreSQL). Returns the new file, or None when nothing
    changed. Read the file before committing it: autogenerate cannot tell a
    rename from a drop and an add, and data migrations are for a person to write.
    """
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite+aiosqlite:///{scratch}/head.db", pool_size=1)
        try:
            await upgrade(db, line)
            async with db.engine.connect() as conn:
                rendered = await conn.run_sync(_render, line)
        finally:
            await db.dispose()
    if rendered is None:
        return None
    heads = line.heads()
    number = len(list(line.script().walk_revisions())) + 1
    revision = f"{line.name}_{number:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    path = line.directory / "versions" / f"v{number:04d}_{slug}.py"
    down = heads[0] if heads else None
    path.write_text(
        _REVISION.format(
            title=f"{line.name}: {message.rstrip('.')}.",
            revision=revision,
            down_repr=repr(down).replace("'", '"'),
            date=datetime.now(UTC).date().isoformat(),
            dialects=(
                "from sqlalchemy.dialects import postgresql\n"
                if "postgresql." in "".join(rendered)
                else ""
            ),
            upgrade=rendered[0],
            downgrade=rendered[1],
        )
    )
    return path
