"""``avrr rebuild <service> <projection> | --all``: read models from the inbox journal.

``rebuild`` refuses while the service's consumer group has members (unless
  ``--force``): the rebuild drops and recreates the projection's tables, and a
  live consumer writing the same tables at the same time both sees missing
  tables and moves the projection's checkpoint, so events it applies during
  the rebuild would be replayed again: counters would double. Without Kafka
  (the embedded default) membership cannot be asked, so it only warns.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import (
    TaskID,
)
from rich.table import Table
from sqlalchemy import Row, func, select

from avrr_events import tables
from avrr_events.adapters.database import Database
from avrr_events.adapters.kafka import (
    KafkaSettings,
)
from avrr_events.cli.base import Config, ServiceArg, err, fail, find_service, out, progress_bar, run
from avrr_events.projections import Projection, ProjectionRunner
from avrr_events.registry import EventRegistry
from avrr_events.web.embedded import EmbeddedSettings, embedded_settings
from avrr_events.web.service import Service, ServiceRuntime

# -------------------------------------------------------------------- rebuild --


def rebuild(
    ctx: typer.Context,
    service: ServiceArg,
    projection: Annotated[
        list[str] | None, typer.Argument(help="projection names (see the error without any)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="every projection of the service")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="even while the service's consumer is running")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 2000,
) -> None:
    """Drop a service's read models and replay its inbox journal into them.

    Stop the service's consumers first: a consumer writing the same tables
    during the rebuild would have its events applied twice.
    """

    async def work(config: Config) -> None:
        counts = await rebuild_projections(
            config,
            find_service(service),
            projection or [],
            every=all_,
            force=force,
            batch_size=batch_size,
        )
        table = Table("projection", "events replayed")
        for name, n in counts.items():
            table.add_row(name, str(n))
        out.print(table)

    run(ctx, work)


class _CountingRunner(ProjectionRunner):
    """A ProjectionRunner that reports every batch of journal rows it reads."""

    def __init__(
        self,
        db: Database,
        registry: EventRegistry,
        consumer: str,
        advance: Callable[[int], None],
        *,
        batch_size: int,
    ) -> None:
        super().__init__(db, registry, consumer, batch_size=batch_size)
        self._advance = advance

    async def _read(self, types: list[str], after: int) -> Sequence[Row[Any, Any]]:
        rows = await super()._read(types, after)
        self._advance(len(rows))
        return rows


async def journal_size(db: Database, group: str, projection: Projection) -> int:
    ib = tables.inbox
    async with db.engine.connect() as conn:
        n = await conn.scalar(
            select(func.count())
            .select_from(ib)
            .where(ib.c.consumer == group, ib.c.type.in_(sorted(projection.event_types)))
        )
    return int(n or 0)


async def check_journal(db: Database, group: str) -> None:
    """Refuse a rebuild that would replay nothing into emptied tables because the
    consumer group is misnamed (AVRR_TOPIC_PREFIX not the service's)."""
    ib = tables.inbox
    async with db.engine.connect() as conn:
        consumers = set((await conn.scalars(select(ib.c.consumer).distinct())).all())
    if consumers and group not in consumers:
        fail(
            f"the inbox has no journal of consumer group {group}, only of "
            f"{', '.join(sorted(consumers))}: is AVRR_TOPIC_PREFIX (--topic-prefix) the service's?"
        )


async def consumer_group_members(kafka: KafkaSettings, group: str) -> int:
    """How many consumers are in the group now (0: nobody is consuming)."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    members = 0
    for response in responses:
        for described in response.to_object()["groups"]:
            if described["group"] == group:
                members += len(described["members"])
    return members


def embedded_default(config: Config, service: str) -> Config:
    """The settings ``make run`` gives the service: its SQLite file and the shared key file
    in AVRR_DATA_DIR (``.avrr-data``), the development master key, no Kafka."""
    settings = embedded_settings(service, Path(EmbeddedSettings().avrr_data_dir))
    err.print(f"[yellow]DATABASE_URL is not set: the embedded default's {settings.database_url}")
    Path(EmbeddedSettings().avrr_data_dir).mkdir(parents=True, exist_ok=True)
    same = ("database_url", "keystore_url", "kafka_bootstrap_servers", "master_key", "dev")
    return replace(
        config,
        overrides=(
            *((k, v) for k, v in config.overrides if k not in same),
            *((k, getattr(settings, k)) for k in same),
        ),
    )


@contextlib.asynccontextmanager
async def offline_runtime(service: Service, config: Config) -> AsyncIterator[ServiceRuntime]:
    """A runtime that is never started: its database, cipher and projections, closed after;
    without DATABASE_URL, the files of the embedded default (``embedded_default``)."""
    if config.settings().database_url is None:
        config = embedded_default(config, service.name)
    settings = config.settings()
    try:
        runtime = ServiceRuntime(service, settings)
    except RuntimeError as exc:  # master key, service secrets: the projections may need them
        fail(str(exc))
    try:
        yield runtime
    finally:
        if runtime.keys_db is not runtime.db:
            await runtime.keys_db.dispose()
        await runtime.db.dispose()


async def rebuild_projections(
    config: Config,
    service: Service,
    names: Sequence[str],
    *,
    every: bool = False,
    force: bool = False,
    batch_size: int = 2000,
) -> dict[str, int]:
    """Rebuild the named projections (or all); return the events replayed into each."""
    async with offline_runtime(service, config) as runtime:
        known = {p.name: p for p in runtime.projections}
        if every:
            chosen = list(known.values())
        else:
            unknown = [n for n in names if n not in known]
            if unknown or not names:
                fail(
                    f"name projections of {service.name} or pass --all; "
                    f"unknown: {', '.join(unknown) or '-'}; known: {', '.join(known) or 'none'}"
                )
            chosen = [known[n] for n in names]
        await check_journal(runtime.db, runtime.group)
        if runtime.settings.kafka_bootstrap_servers:
            members = await consumer_group_members(config.kafka(), runtime.group)
            if members and not force:
                fail(
                    f"the consumer group {runtime.group} has {members} member(s): stop "
                    f"{service.name}'s consumers first (a consumer writing the tables during "
                    "the rebuild gets its events applied twice), or pass --force"
                )
            if members:
                err.print(f"[yellow]rebuilding while {members} consumer(s) run (--force)[/yellow]")
        else:
            err.print(
                "[yellow]no Kafka: cannot tell whether the service runs; stop it first[/yellow]"
            )
        counts: dict[str, int] = {}
        with progress_bar() as bar:
            for projection in chosen:
                total = await journal_size(runtime.db, runtime.group, projection)
                task = bar.add_task(projection.name, total=total)

                def advance(n: int, task: TaskID = task) -> None:
                    bar.advance(task, n)

                runner = _CountingRunner(
                    runtime.db, service.registry, runtime.group, advance, batch_size=batch_size
                )
                counts[projection.name] = await runner.rebuild(projection)
                bar.update(task, completed=counts[projection.name], total=counts[projection.name])
        return counts
