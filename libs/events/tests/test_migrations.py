"""Schema migrations: upgrade to head once, however many setups run; refuse to start behind it.

The migration line here is a sample's own (a table in a temporary folder), so
the tests also prove that ``avrr migrations new`` writes revisions that run on
PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from sample_domain import registry
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from typer.testing import CliRunner

from avrr_events import audit, cli, migrations
from avrr_events.adapters.database import Database
from avrr_events.migrations import (
    KEYSTORE,
    PLATFORM,
    MigrationLine,
    PredatesMigrations,
    SchemaNotCurrent,
)
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import Service, ServiceRuntime


def notes_table(metadata: MetaData, *, with_author: bool) -> Table:
    columns: list[Column[Any]] = [
        Column("id", Integer, primary_key=True),
        Column("text", String(200)),
    ]
    if with_author:
        columns.append(Column("author", String(100), nullable=True))
    return Table("sample_notes", metadata, *columns)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    return tmp_path / "migrations"


def sample_service(folder: Path, *, with_author: bool) -> Service:
    read_models = MetaData()
    notes_table(read_models, with_author=with_author)
    return Service(
        name="sample",
        registry=registry,
        router=APIRouter(),
        read_models=[read_models],
        migrations=folder,
    )


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    """The database at ``url``, for a test to look into; disposed after."""
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


def line_of(service: Service) -> MigrationLine:
    line = migrations.service_line(service)
    assert line is not None
    return line


@pytest.fixture
async def two_revisions(folder: Path) -> tuple[Service, Service]:
    """The sample's first schema, then a column added: one revision each."""
    first = sample_service(folder, with_author=False)
    second = sample_service(folder, with_author=True)
    assert await migrations.write_revision(line_of(first), "notes") is not None
    assert await migrations.write_revision(line_of(second), "note authors") is not None
    return first, second


async def refusal(service: Service, settings: ServiceSettings) -> str:
    """Why the runtime would not start."""
    runtime = ServiceRuntime(service, settings)
    try:
        with pytest.raises(SchemaNotCurrent) as refused:
            await runtime.start()
    finally:
        await runtime.stop()
    assert not runtime.started
    return str(refused.value)


async def test_new_revisions_upgrade_both_databases_to_the_tables_in_code(
    two_revisions: tuple[Service, Service], any_db_url: str
) -> None:
    _, service = two_revisions
    line = line_of(service)
    assert line.heads() == ("sample_0002",)
    assert await migrations.write_revision(line, "nothing") is None  # head matches the code

    async with opened(any_db_url) as db:
        await migrations.upgrade(db, line)
        assert await migrations.current(db, line) == ("sample_0002",)
        assert await migrations.differences(db, line) == []
        async with db.transaction() as conn:  # the column added by the second revision
            notes = line.metadata().tables["sample_notes"]
            await conn.execute(insert(notes).values(id=1, text="t", author="a"))
            assert await conn.scalar(select(notes.c.author)) == "a"


async def test_a_service_behind_head_refuses_to_start_and_says_what_to_run(
    two_revisions: tuple[Service, Service], database_url: str
) -> None:
    _, service = two_revisions
    settings = ServiceSettings(database_url=database_url, dev=True)

    assert await refusal(service, settings) == (
        "sample: the database is not migrated (schema revision none, expected sample_0002 "
        "in alembic_version_sample); run `avrr setup sample` (or `python -m avrr_events.setup "
        "sample`) with the same DATABASE_URL and AVRR_KEYSTORE_URL first"
    )

    await migrations.migrate(service, settings)
    async with opened(database_url) as db, db.transaction() as conn:  # one release behind
        await conn.execute(text("UPDATE alembic_version_sample SET version_num='sample_0001'"))
    assert "revision sample_0001, expected sample_0002" in await refusal(service, settings)
    async with opened(database_url) as db:  # refusing changed nothing
        assert await migrations.current(db, line_of(service)) == ("sample_0001",)


async def test_concurrent_setups_migrate_once_and_a_second_setup_changes_nothing(
    two_revisions: tuple[Service, Service], database_url: str
) -> None:
    _, service = two_revisions
    settings = ServiceSettings(database_url=database_url, dev=True)
    # Four setup Jobs at once (one per replica or per service sharing the key
    # store): without the advisory lock two would both create the tables.
    await asyncio.gather(*(migrations.migrate(service, settings) for _ in range(4)))
    await migrations.migrate(service, settings)

    async with opened(database_url) as db:
        for line in (line_of(service), KEYSTORE):
            assert await migrations.current(db, line) == line.heads()
        async with db.engine.connect() as conn:
            rows = await conn.scalar(text("SELECT count(*) FROM alembic_version_sample"))
        assert rows == 1
    async with ServiceRuntime(service, settings).running() as runtime:
        assert runtime.started


async def test_the_key_store_line_matches_the_key_table(any_db_url: str) -> None:
    async with opened(any_db_url) as db:
        await migrations.upgrade(db, KEYSTORE)
        await migrations.upgrade(db, KEYSTORE)
        assert await migrations.current(db, KEYSTORE) == KEYSTORE.heads()
        assert await migrations.differences(db, KEYSTORE) == []


async def test_the_platform_line_holds_the_shared_tables_and_no_service_line_does(
    any_db_url: str, folder: Path
) -> None:
    async with opened(any_db_url) as db:
        await migrations.upgrade(db, PLATFORM)
        await migrations.upgrade(db, PLATFORM)
        assert await migrations.current(db, PLATFORM) == PLATFORM.heads()
        assert await migrations.differences(db, PLATFORM) == []
    shared = {t.name for t in migrations.shared_tables()}
    assert {"events", "outbox", "inbox", "idempotency_keys", "audit_log"} <= shared
    service = sample_service(folder, with_author=False)
    assert not shared & {t.name for t in line_of(service).schema}


async def test_a_database_whose_services_made_the_shared_tables_is_stamped_once_by_setup(
    two_revisions: tuple[Service, Service], database_url: str
) -> None:
    """Before the platform line, each service's first revisions created the shared tables:
    such a database has them as the line's head has them, and setup only stamps it."""
    _, service = two_revisions
    settings = ServiceSettings(database_url=database_url)
    await migrations.migrate(service, settings)
    async with opened(database_url) as db:
        async with db.transaction() as conn:  # what it was: no platform revision, one event
            await conn.execute(text("DROP TABLE alembic_version_platform"))
            # and the shared tables as platform_0001 has them (platform_0002 adds the index)
            await conn.execute(text("DROP INDEX audit_log_prev_hash_key"))
            await conn.execute(
                text("INSERT INTO projection_checkpoints (name, position) VALUES ('kept', 7)")
            )
        with pytest.raises(SchemaNotCurrent, match="alembic_version_platform"):
            await migrations.require_current(service, settings)

        await migrations.migrate(service, settings)
        await migrations.migrate(service, settings)

        await migrations.require_current(service, settings)
        assert await migrations.current(db, PLATFORM) == PLATFORM.heads()
        assert await migrations.differences(db, PLATFORM) == []
        async with db.autocommit() as conn:
            kept = await conn.scalar(
                text("SELECT position FROM projection_checkpoints WHERE name = 'kept'")
            )
        assert kept == 7


async def test_migrate_on_start_upgrades_sqlite_for_the_embedded_default(
    two_revisions: tuple[Service, Service], sqlite_url: str
) -> None:
    _, service = two_revisions
    settings = ServiceSettings(database_url=sqlite_url, dev=True, migrate_on_start=True)
    async with ServiceRuntime(service, settings).running():
        pass
    await migrations.require_current(
        service, settings.model_copy(update={"migrate_on_start": False})
    )


async def test_avrr_migrations_status_tells_behind_from_at_head(
    two_revisions: tuple[Service, Service], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, service = two_revisions
    monkeypatch.setattr(cli.base, "installed_services", lambda: [service])
    runner = CliRunner()

    def status() -> tuple[int, str]:
        done = runner.invoke(
            cli.app, ["--database-url", database_url, "migrations", "status", "sample"]
        )
        return done.exit_code, done.output

    code, output = await asyncio.to_thread(status)
    assert code == 1, output
    assert "behind" in output and "avrr setup sample" in output

    await migrations.migrate(service, ServiceSettings(database_url=database_url))
    code, output = await asyncio.to_thread(status)
    assert code == 0, output
    assert output.count("at head") == 3  # the platform line, the service's and the key store's


async def test_a_database_made_before_migrations_is_adopted_only_when_its_tables_are_head(
    two_revisions: tuple[Service, Service], database_url: str, sqlite_url: str
) -> None:
    first, second = two_revisions
    for service, url in ((second, database_url), (first, sqlite_url)):
        async with opened(url) as db:  # tables as start-up used to create them, no revision
            await db.create_schema(*service.read_models, audit.metadata)
            if url == database_url:  # a table added in code since then is simply missing
                async with db.transaction() as conn:
                    await conn.execute(text("DROP TABLE audit_log"))

    await migrations.migrate(second, ServiceSettings(database_url=database_url))
    await migrations.require_current(second, ServiceSettings(database_url=database_url))
    async with opened(database_url) as db:
        assert await migrations.differences(db, line_of(second)) == []  # audit_log is back

    with pytest.raises(PredatesMigrations, match="add_column author"):
        await migrations.migrate(second, ServiceSettings(database_url=sqlite_url))


async def test_the_previous_release_still_starts_on_a_database_a_newer_release_migrated(
    two_revisions: tuple[Service, Service],
    folder: Path,
    tmp_path: Path,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, newer = two_revisions
    previous_folder = tmp_path / "previous"
    shutil.copytree(folder, previous_folder)
    for revision in (previous_folder / "versions").glob("v0002_*.py"):
        revision.unlink()  # the previous release knows only the first revision
    previous = sample_service(previous_folder, with_author=False)
    settings = ServiceSettings(database_url=sqlite_url, dev=True)

    await migrations.migrate(newer, settings)  # the new release's setup Job ran first
    async with ServiceRuntime(previous, settings).running() as runtime:
        assert runtime.started
    assert "newer than this code's head sample_0001" in caplog.text
