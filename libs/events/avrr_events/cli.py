"""``avrr``: the operations command line (serve, setup, rebuild, dead letters, erasure, demo).

Every command reads the same environment as the services (``ServiceSettings``:
DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, AVRR_KEYSTORE_URL, AVRR_TOPIC_PREFIX,
AVRR_MASTER_KEY, AVRR_DEV, KAFKA_SECURITY_PROTOCOL and friends); the global
options (``avrr --database-url ... --kafka ... <command>``) override them.
Services are the installed ones (entry point group ``avrr.services``).

    avrr services                                  installed services, topics, projections
    avrr serve intake                              one service (avrr_events.serve)
    avrr setup intake                              migrate its databases, create its topics
    avrr migrations status intake                  its databases' schema revision vs head
    avrr migrations new intake "add x"             next revision from the tables in code
    avrr topics create [intake ...]                the topics of some or all services
    avrr rebuild intake case_files | --all         read models from the inbox journal
    avrr dead-letters list|inspect|redrive intake  the dead-letter topic <prefix>.dlq.<service>
    avrr outbox set-aside|release intake           outbox rows the broker refused for their size
    avrr erase case <case-id>                      through intake's REST API (the domain)
    avrr erase subject <person-id>                 break glass: shred one key directly
    avrr keys rewrap                               rotate the master key (re-wrap every data key)
    avrr demo --url http://127.0.0.1:8000          demo cases on the embedded default
    avrr schema asyncapi|json intake               documents on stdout
    avrr events map [--format json]                producers, reactions, read models of every event

Design notes, the why of each rule:

- ``rebuild`` refuses while the service's consumer group has members (unless
  ``--force``): the rebuild drops and recreates the projection's tables, and a
  live consumer writing the same tables at the same time both sees missing
  tables and moves the projection's checkpoint, so events it applies during
  the rebuild would be replayed again: counters would double. Without Kafka
  (the embedded default) membership cannot be asked, so it only warns.
- ``dead-letters redrive`` republishes the ORIGINAL record (key, value, headers
  without the ``dlq_*`` ones, plus ``redriven_from``) to its original topic, so
  the service's consumer takes it as new: its inbox never recorded it. What
  was redriven is recorded in a compacted topic next to the dead-letter topic
  (``<prefix>.dlq.<service>.redriven``, key ``<partition>:<offset>``): a second
  redrive skips those records unless ``--again``. A redrive that fails between
  the two writes is harmless when repeated: the event id is the same, and the
  inbox of every consumer group skips an event it has already applied. A
  consumer-group offset on the dead-letter topic would only remember "up to
  here" and could not record ``--offset N`` picked out of order. Records
  dead-lettered as ``undecodable`` (not a CloudEvent at all) would fail again
  in every group that reads the topic, so ``--all`` leaves them unless
  ``--reason undecodable`` asks for them.
- ``erase case`` calls intake's ``POST /cases/{id}/erasure`` (role
  data_protection_officer): intake shreds every person of the case AND records
  PersonalDataErased, so the case refuses further commands, the other
  services and the timeline learn of it, and the audit log names who did it.
  Deleting keys behind the domain's back does none of that; ``erase subject``
  exists only for a subject no case reaches (say, a person id seen in a dead
  letter), deletes that one key from the key store, and asks for the id to be
  typed again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import getpass
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import httpx
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from avrr_events import event_map, logs, migrations, tables
from avrr_events.adapters.database import Database
from avrr_events.adapters.kafka import (
    KafkaPublisher,
    KafkaSettings,
    TopicSpec,
    ensure_topics,
    kafka_client_options,
)
from avrr_events.asyncapi import asyncapi_document
from avrr_events.bus import Message
from avrr_events.consumer import dead_letter_topic, legacy_dead_letter_topic
from avrr_events.envelope import Envelope
from avrr_events.personal import MasterKey, rewrap_keys
from avrr_events.projections import Projection, ProjectionRunner
from avrr_events.registry import EventRegistry
from avrr_events.settings import ROLES, RoleNotSupported, UnsafeAuthentication
from avrr_events.setup import SetupSettings, prepare, topic_specs
from avrr_events.web.service import Service, ServiceRuntime

# Tables as wide as they need when the output is not a terminal (a file, a pipe, a test).
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    name="avrr",
    help="AVRR operations: serve, setup, rebuild read models, dead letters, erasure, demo data.",
    no_args_is_help=True,
    add_completion=False,
    # a traceback's locals may hold a database password or the master key
    pretty_exceptions_show_locals=False,
)
dead_letters_app = typer.Typer(help="The dead-letter topic of a service (<prefix>.dlq.<service>).")
topics_app = typer.Typer(help="Kafka topics.")
schema_app = typer.Typer(help="Published documents of a service's events.")
erase_app = typer.Typer(help="Erase personal data (crypto-shredding).")
migrations_app = typer.Typer(help="Schema migrations (Alembic) of a service's databases.")
outbox_app = typer.Typer(help="A service's outbox: the rows set aside (too large for the broker).")
app.add_typer(dead_letters_app, name="dead-letters", no_args_is_help=True)
app.add_typer(topics_app, name="topics", no_args_is_help=True)
app.add_typer(schema_app, name="schema", no_args_is_help=True)
app.add_typer(erase_app, name="erase", no_args_is_help=True)
app.add_typer(migrations_app, name="migrations", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox", no_args_is_help=True)
keys_app = typer.Typer(help="The key store: the master key that wraps every person's data key.")
app.add_typer(keys_app, name="keys", no_args_is_help=True)
events_app = typer.Typer(help="The events of every installed service, across services.")
app.add_typer(events_app, name="events", no_args_is_help=True)

REDRIVEN_HEADER = "redriven_from"
UNDECODABLE = "undecodable"


class CliError(Exception):
    """A failure to report in one line, exit status 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


# ------------------------------------------------------------ configuration --


@dataclass(frozen=True)
class Config:
    """The environment's settings with the global options laid over them."""

    overrides: tuple[tuple[str, Any], ...] = ()
    dead_letter_topic: str | None = None  # `avrr dead-letters --topic`

    def settings(self, **more: Any) -> SetupSettings:
        return SetupSettings(**dict(self.overrides), **more)

    def kafka(self) -> KafkaSettings:
        servers = self.settings().kafka_bootstrap_servers
        if not servers:
            fail("KAFKA_BOOTSTRAP_SERVERS is not set (or pass --kafka)")
        return KafkaSettings(
            bootstrap_servers=servers,
            client_options=tuple(kafka_client_options(os.environ).items()),
        )

    def database_url(self) -> str:
        url = self.settings().database_url
        if not url:
            fail("DATABASE_URL is not set (or pass --database-url)")
        return url


def installed_services() -> list[Service]:
    """The installed services (a seam for tests, which add their own)."""
    from avrr_events.web.embedded import discover

    return discover()


def find_service(name: str) -> Service:
    services = {s.name: s for s in installed_services()}
    if name not in services:
        fail(f"unknown service {name!r}; installed: {', '.join(sorted(services)) or 'none'}")
    return services[name]


def config_of(ctx: typer.Context) -> Config:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Config) else Config()


def run(ctx: typer.Context, work: Callable[[Config], Any]) -> Any:
    """Run a command's (async) work; a CliError becomes one red line and exit status 1."""
    try:
        result = work(config_of(ctx))
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return result
    except CliError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except (KafkaError, SQLAlchemyError, OSError) as exc:
        # Unreachable brokers or database: one line, no traceback (whose locals hold URLs).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err.print(f"[red]error:[/red] {type(exc).__name__}: {first}", highlight=False)
        raise typer.Exit(1) from None


@app.callback()
def configure(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="overrides DATABASE_URL")
    ] = None,
    kafka: Annotated[
        str | None, typer.Option("--kafka", help="overrides KAFKA_BOOTSTRAP_SERVERS")
    ] = None,
    keystore_url: Annotated[
        str | None, typer.Option("--keystore-url", help="overrides AVRR_KEYSTORE_URL")
    ] = None,
    topic_prefix: Annotated[
        str | None, typer.Option("--topic-prefix", help="overrides AVRR_TOPIC_PREFIX")
    ] = None,
) -> None:
    """Settings come from the services' environment variables; these options override them."""
    # Library warnings as JSON lines on stderr like every process's (the output stays rich).
    logs.configure("cli", level=os.environ.get("AVRR_LOG_LEVEL", "WARNING"))
    given = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "keystore_url": keystore_url,
        "topic_prefix": topic_prefix,
    }
    ctx.obj = Config(tuple((k, v) for k, v in given.items() if v is not None))


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


# ------------------------------------------------------- services, serve, setup --


@app.command("services")
def list_services(ctx: typer.Context) -> None:
    """The installed services: topic, consumer group, observed services."""

    def work(config: Config) -> None:
        settings = config.settings()
        table = Table("service", "topic", "consumer group", "dead letters", "observes")
        for s in installed_services():
            group = settings.group(s.name)
            table.add_row(
                s.name,
                settings.topic(s.name),
                group,
                dead_letter_topic(group),
                ", ".join(s.observes),
            )
        out.print(table)

    run(ctx, work)


@app.command()
def serve(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
    host: Annotated[str, typer.Option(envvar="AVRR_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="AVRR_PORT")] = 8000,
    role: Annotated[
        str | None,
        typer.Option(help="all, api (REST only) or worker (consumer, relays, jobs); AVRR_ROLE"),
    ] = None,
) -> None:
    """Run one service (REST API, consumer, outbox relay) as this process."""

    def work(config: Config) -> None:
        import uvicorn

        from avrr_events.migrations import refuse_unless_current
        from avrr_events.tracing import configure_exporter

        found = find_service(service)
        settings = config.settings()
        if role is not None:
            if role not in ROLES:
                fail(f"--role must be one of {', '.join(ROLES)}")
            settings = settings.model_copy(update={"role": role})
        try:
            settings.check_role()  # api/worker need PostgreSQL and Kafka
            warning = settings.check_authentication()  # no header authentication on real data
        except (RoleNotSupported, UnsafeAuthentication) as exc:
            fail(str(exc))
        logs.configure(found.name)
        if warning:
            logging.getLogger("avrr_events.serve").warning(warning)
        refuse_unless_current(found, settings)
        configure_exporter(found.name)
        uvicorn.run(
            found.app(settings),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_keep_alive=int(os.environ.get("AVRR_KEEP_ALIVE", "75")),  # as serve.py
        )

    run(ctx, work)


@app.command()
def setup(
    ctx: typer.Context, service: Annotated[str, typer.Argument(help="an installed service")]
) -> None:
    """Migrate a service's database and key store to head, create its topics (the Job's command)."""

    async def work(config: Config) -> None:
        try:
            topics = await prepare(find_service(service), config.settings())
        except (migrations.PredatesMigrations, migrations.UnversionedService) as exc:
            fail(str(exc))
        out.print(f"{service}: schema at head; topics: {', '.join(topics) or 'none (no Kafka)'}")

    run(ctx, work)


@migrations_app.command("status")
def migrations_status(
    ctx: typer.Context, service: Annotated[str, typer.Argument(help="an installed service")]
) -> None:
    """Schema revision of a service's database and key store against head; exit 1 if behind."""

    async def work(config: Config) -> None:
        config.database_url()
        try:
            lines = await migrations.status(find_service(service), config.settings())
        except migrations.UnversionedService as exc:
            fail(str(exc))
        table = Table("line", "version table", "revision", "head", "status")
        for line in lines:
            table.add_row(
                line.line.name,
                line.line.version_table,
                ", ".join(line.current) or "none",
                ", ".join(line.heads),
                "[green]at head[/green]" if line.at_head else "[red]behind[/red]",
            )
        out.print(table)
        if not all(line.at_head for line in lines):
            fail(f"not at head: run `avrr setup {service}`")

    run(ctx, work)


@migrations_app.command("new")
def migrations_new(
    ctx: typer.Context,
    line: Annotated[str, typer.Argument(help="an installed service, platform or keystore")],
    message: Annotated[str, typer.Argument(help="what the revision changes")],
) -> None:
    """Write the next revision from what the tables in code changed (for developers)."""

    async def work(_config: Config) -> None:
        if line == migrations.KEYSTORE.name:
            chosen = migrations.KEYSTORE
        elif line == migrations.PLATFORM.name:
            chosen = migrations.PLATFORM
        else:
            found = migrations.service_line(find_service(line))
            if found is None:
                fail(f"{line} declares no migrations (Service.migrations)")
            chosen = found
        path = await migrations.write_revision(chosen, message)
        out.print(
            f"written: {path}" if path else f"{line}: the tables match head, nothing to write"
        )

    run(ctx, work)


@topics_app.command("create")
def topics_create(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="services (default: every installed one)")
    ] = None,
) -> None:
    """Create the topics of the services (own, observed, dead letters); existing ones stay."""

    async def work(config: Config) -> None:
        chosen = [find_service(n) for n in services] if services else installed_services()
        result = await create_topics(config, chosen)
        table = Table("topic", "partitions", "replicas", "status")
        for spec, created in result:
            status = "[green]created[/green]" if created else "exists"
            table.add_row(spec.name, str(spec.partitions), str(spec.replication_factor), status)
        out.print(table)

    run(ctx, work)


async def create_topics(
    config: Config, services: Sequence[Service]
) -> list[tuple[TopicSpec, bool]]:
    """Ensure the services' topics; return each spec and whether it was created now."""
    settings = config.settings()
    kafka = config.kafka()
    specs: dict[str, TopicSpec] = {}
    for s in services:
        for spec in topic_specs(s, settings):
            specs.setdefault(spec.name, spec)
    existing = await list_topics(kafka)
    await ensure_topics(kafka, specs.values())
    return [(spec, spec.name not in existing) for spec in specs.values()]


async def list_topics(kafka: KafkaSettings) -> set[str]:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


# -------------------------------------------------------------------- schemas --


@schema_app.command("asyncapi")
def schema_asyncapi(
    ctx: typer.Context, service: Annotated[str, typer.Argument(help="an installed service")]
) -> None:
    """The service's AsyncAPI 3 document (JSON) on stdout."""

    def work(config: Config) -> None:
        typer.echo(json.dumps(asyncapi_of(find_service(service), config.settings()), indent=2))

    run(ctx, work)


@schema_app.command("json")
def schema_json(
    ctx: typer.Context, service: Annotated[str, typer.Argument(help="an installed service")]
) -> None:
    """The JSON Schema of every event type the service writes or reads, by type, on stdout."""

    def work(_config: Config) -> None:
        typer.echo(json.dumps(find_service(service).registry.json_schemas(), indent=2))

    run(ctx, work)


@events_app.command("map")
def events_map(
    fmt: Annotated[
        event_map.Format, typer.Option("--format", help="markdown (docs/event-map.md) or json")
    ] = event_map.Format.markdown,
) -> None:
    """Every event type: producer (service, module, aggregate), schema, reactions, read models."""
    typer.echo(event_map.render(event_map.build(), fmt), nl=False)


def asyncapi_of(service: Service, settings: SetupSettings) -> dict[str, Any]:
    """What ``ServiceRuntime.asyncapi`` serves, without opening a database or needing keys."""
    return asyncapi_document(
        service.name,
        service.registry,
        topic_of=settings.topic,
        observes=service.observes,
        dead_letter_topic=dead_letter_topic(settings.group(service.name)),
        public=service.public.channels if service.public else (),
        public_topic_of=settings.public_topic,
        kafka_host=settings.kafka_bootstrap_servers or "localhost:9092",
        version=service.version,
    )


# -------------------------------------------------------------------- rebuild --


@app.command()
def rebuild(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
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


@contextlib.asynccontextmanager
async def offline_runtime(service: Service, config: Config) -> AsyncIterator[ServiceRuntime]:
    """A runtime that is never started: its database, cipher and projections, closed after."""
    settings = config.settings()
    if settings.database_url is None:
        err.print(
            "[yellow]DATABASE_URL is not set: using the embedded default's SQLite file[/yellow]"
        )
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


# --------------------------------------------------------------- dead letters --


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of a dead-letter topic: the original record plus the dlq_* headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return None

    @property
    def reason(self) -> str:
        return self.header("dlq_reason") or "?"

    @property
    def original_topic(self) -> str | None:
        return self.header("dlq_topic")

    @property
    def marker_key(self) -> str:
        return f"{self.partition}:{self.offset}"

    def payload(self) -> Any:
        try:
            return json.loads(self.value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self.value.decode(errors="replace")

    def original(self) -> Message:
        """The record as it was before it was dead-lettered, to its original topic."""
        if self.original_topic is None:
            fail(f"dead letter at offset {self.offset} has no dlq_topic header")
        headers = tuple((k, v) for k, v in self.headers if not k.startswith("dlq_"))
        headers = tuple((k, v) for k, v in headers if k != REDRIVEN_HEADER)
        origin = f"{self.topic}/{self.partition}@{self.offset}".encode()
        return Message(
            topic=self.original_topic,
            key=self.key,
            value=self.value,
            headers=(*headers, (REDRIVEN_HEADER, origin)),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "partition": self.partition,
            "reason": self.reason,
            "original": f"{self.original_topic}/{self.header('dlq_partition')}"
            f"@{self.header('dlq_offset')}",
            "type": self.header("ce_type"),
            "subject": self.header("ce_subject")
            or (self.key.decode(errors="replace") if self.key else None),
            "event_id": self.header("ce_id"),
            "attempts": self.header("dlq_attempts"),
            "error": self.header("dlq_error"),
            "dead_lettered_at": datetime.fromtimestamp(self.timestamp / 1000, UTC).isoformat(),
        }


def redriven_topic(dlq: str) -> str:
    """Where the redrives of a dead-letter topic are recorded (compacted, key partition:offset)."""
    return f"{dlq}.redriven"


async def topic_partitions(kafka: KafkaSettings, topic: str) -> list[int]:
    """The partitions of a topic; none if it does not exist (and it is not auto-created)."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described if t["topic"] == topic for p in t["partitions"])


async def read_topic_to_end(kafka: KafkaSettings, topic: str) -> list[DeadLetterRecord]:
    """Every record of a topic, from the beginning to the end it has now (none if it is absent)."""
    partitions = await topic_partitions(kafka, topic)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        found: list[DeadLetterRecord] = []
        pending = {tp for tp in tps if end[tp] > 0}
        for tp in list(pending):
            if await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                found.extend(
                    DeadLetterRecord(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value if r.value is not None else b"",
                        headers=tuple(r.headers or ()),
                        timestamp=r.timestamp,
                    )
                    for r in records
                    if r.offset < end[tp]
                )
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


@dead_letters_app.callback()
def dead_letters_options(
    ctx: typer.Context,
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic",
            help="this dead-letter topic instead of <prefix>.dlq.<service>, e.g. the "
            "avrr.dlq.<prefix>.<service> that releases before it wrote",
        ),
    ] = None,
) -> None:
    """Dead letters: list, inspect, redrive (their redrives are recorded next to them)."""
    if topic is not None:
        root = ctx.find_root()
        root.obj = dataclasses.replace(config_of(ctx), dead_letter_topic=topic)


def dlq_of(config: Config, service: Service) -> str:
    if config.dead_letter_topic is not None:
        return config.dead_letter_topic
    return dead_letter_topic(config.settings().group(service.name))


async def legacy_dead_letters_note(config: Config, service: Service) -> str | None:
    """A pointer to dead letters left in the pre-prefix topic, if it still holds any."""
    if config.dead_letter_topic is not None:
        return None
    legacy = legacy_dead_letter_topic(config.settings().group(service.name))
    try:
        left = await read_topic_to_end(config.kafka(), legacy)
    except KafkaError:  # not ours to read (ACLs): nothing to point at
        return None
    if not left:
        return None
    return (
        f"{len(left)} dead letter(s) of an earlier release in {legacy}: "
        f"avrr dead-letters --topic {legacy} list|redrive {service.name}"
    )


async def dead_letters(config: Config, service: Service) -> list[DeadLetterRecord]:
    return await read_topic_to_end(config.kafka(), dlq_of(config, service))


async def redrives(config: Config, service: Service) -> dict[str, dict[str, Any]]:
    """What was redriven already: ``partition:offset`` -> the record of the redrive."""
    done: dict[str, dict[str, Any]] = {}
    for r in await read_topic_to_end(config.kafka(), redriven_topic(dlq_of(config, service))):
        if r.key is not None:
            done[r.key.decode()] = json.loads(r.value)
    return done


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """The service's dead letters: why, where from, what, and whether redriven."""

    async def work(config: Config) -> None:
        found = find_service(service)
        records = await dead_letters(config, found)
        done = await redrives(config, found)
        note = await legacy_dead_letters_note(config, found)
        if note is not None:
            err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        if as_json:
            for r in records:
                line = {**r.summary(), "redriven_at": done.get(r.marker_key, {}).get("at")}
                typer.echo(json.dumps(line))
            return
        table = Table(
            "offset",
            "reason",
            "original",
            "type",
            "subject",
            "error",
            "redriven",
            title=f"{dlq_of(config, found)}: {len(records)} dead letter(s)",
        )
        for r in records:
            s = r.summary()
            table.add_row(
                str(r.offset),
                s["reason"],
                s["original"],
                s["type"] or "-",
                s["subject"] or "-",
                (s["error"] or "")[:80],
                done.get(r.marker_key, {}).get("at", ""),
            )
        out.print(table)

    run(ctx, work)


@dead_letters_app.command("inspect")
def dead_letters_inspect(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
    offset: Annotated[int, typer.Argument(help="offset in the dead-letter topic")],
) -> None:
    """One dead letter as JSON: where it is, its headers and its payload."""

    async def work(config: Config) -> None:
        records = [
            r for r in await dead_letters(config, find_service(service)) if r.offset == offset
        ]
        if not records:
            fail(f"no dead letter at offset {offset} of {dlq_of(config, find_service(service))}")
        r = records[0]
        document = {
            "topic": r.topic,
            "partition": r.partition,
            "offset": r.offset,
            "key": r.key.decode(errors="replace") if r.key is not None else None,
            "headers": {k: v.decode(errors="replace") for k, v in r.headers},
            "payload": r.payload(),
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))

    run(ctx, work)


@dataclass(frozen=True)
class Redrive:
    record: DeadLetterRecord
    skipped: str | None = None  # why not redriven


def choose_redrives(
    records: Sequence[DeadLetterRecord],
    done: Iterable[str],
    *,
    offsets: Sequence[int],
    every: bool,
    reason: str | None,
    again: bool,
) -> list[Redrive]:
    """Which dead letters a redrive republishes, and why the others named are left."""
    if not offsets and not every:
        fail("name --offset N (repeatable) or --all")
    already = set(done)
    by_offset = {r.offset: r for r in records}
    missing = [o for o in offsets if o not in by_offset]
    if missing:
        fail(f"no dead letter at offset(s) {', '.join(map(str, missing))}")
    named = [by_offset[o] for o in offsets] if offsets else list(records)
    chosen: list[Redrive] = []
    for r in named:
        if reason is not None and r.reason != reason:
            continue
        if r.marker_key in already and not again:
            chosen.append(Redrive(r, "already redriven (--again to repeat)"))
        elif every and not offsets and r.reason == UNDECODABLE and reason != UNDECODABLE:
            chosen.append(Redrive(r, "undecodable: would fail again (--reason undecodable)"))
        else:
            chosen.append(Redrive(r))
    return chosen


async def redrive_dead_letters(
    config: Config,
    service: Service,
    *,
    offsets: Sequence[int] = (),
    every: bool = False,
    reason: str | None = None,
    again: bool = False,
    progress: Progress | None = None,
) -> list[Redrive]:
    """Republish dead letters to their original topics and record that they were."""
    kafka = config.kafka()
    dlq = dlq_of(config, service)
    plan = choose_redrives(
        await dead_letters(config, service),
        await redrives(config, service),
        offsets=offsets,
        every=every,
        reason=reason,
        again=again,
    )
    todo = [p.record for p in plan if p.skipped is None]
    if not todo:
        return plan
    marker_topic = redriven_topic(dlq)
    await ensure_topics(
        kafka,
        [
            TopicSpec(
                marker_topic,
                partitions=1,
                replication_factor=config.settings().topic_replication_factor,
                config=(("cleanup.policy", "compact"),),
            )
        ],
    )
    publisher = KafkaPublisher(kafka)
    task = progress.add_task("redriving", total=len(todo)) if progress else None
    by = os.environ.get("AVRR_OPERATOR") or _user()
    try:
        for start in range(0, len(todo), 100):
            chunk = todo[start : start + 100]
            await publisher.publish([r.original() for r in chunk])
            at = datetime.now(UTC)
            await publisher.publish([redrive_marker(r, marker_topic, at, by) for r in chunk])
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
    finally:
        await publisher.stop()
    return plan


def redrive_marker(record: DeadLetterRecord, topic: str, at: datetime, by: str) -> Message:
    """The record of one redrive: a CloudEvent like every record on the platform's topics,
    keyed ``<partition>:<offset>`` (the topic is compacted on it)."""
    return Envelope(
        source="/avrr/cli",
        type="avrr.operations.DeadLetterRedriven",
        subject=record.marker_key,
        time=at,
        dataschema="urn:avrr:schema:avrr.operations.DeadLetterRedriven:v1",
        dataversion=1,
        correlationid=record.header("ce_correlationid") or record.marker_key,
        data={
            "at": at.isoformat(),
            "by": by,
            "to": record.original_topic,
            "reason": record.reason,
            "event_id": record.header("ce_id"),
        },
    ).to_message(topic)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dead_letters_app.command("redrive")
def dead_letters_redrive(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
    offset: Annotated[
        list[int] | None, typer.Option("--offset", help="a dead letter's offset (repeatable)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter not yet redriven")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="only dead letters with this dlq_reason")
    ] = None,
    again: Annotated[
        bool, typer.Option("--again", help="also those redriven before (the inbox skips repeats)")
    ] = False,
) -> None:
    """Republish dead letters to their original topics for the consumer to handle again.

    Deploy the fix first: the consumer handles the same bytes as before.
    """

    async def work(config: Config) -> None:
        found = find_service(service)
        with progress_bar() as bar:
            plan = await redrive_dead_letters(
                config,
                found,
                offsets=offset or [],
                every=all_,
                reason=reason,
                again=again,
                progress=bar,
            )
        table = Table("offset", "reason", "to", "result")
        for p in plan:
            result = p.skipped or "[green]redriven[/green]"
            table.add_row(str(p.record.offset), p.record.reason, p.record.original_topic, result)
        out.print(table)
        done = sum(p.skipped is None for p in plan)
        out.print(f"{done} redriven, {len(plan) - done} left")
        own = config.settings().topic(found.name)
        foreign = {p.record.original_topic for p in plan if p.skipped is None} - {own}
        if foreign:
            err.print(
                f"[yellow]note: {', '.join(sorted(t or '?' for t in foreign))} is read by other "
                "consumer groups too; they skip events they have applied (same event id)[/yellow]"
            )

    run(ctx, work)


# -------------------------------------------------------------------- erasure --


def auth_headers(token: str | None, user: str, roles: str, offices: str | None) -> dict[str, str]:
    """A bearer token when given, else the development headers (AVRR_DEV_AUTH services only)."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    headers = {"X-AVRR-User": user, "X-AVRR-Roles": roles}
    if offices:
        headers["X-AVRR-Offices"] = offices
    return headers


Token = Annotated[
    str | None,
    typer.Option("--token", envvar="AVRR_TOKEN", help="OIDC bearer token (else dev headers)"),
]
DevUser = Annotated[str, typer.Option("--user", help="X-AVRR-User when no token")]


@erase_app.command("case")
def erase_case(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="the case whose people are erased")],
    url: Annotated[
        str, typer.Option("--url", envvar="AVRR_INTAKE_URL", help="intake's base URL")
    ] = "http://127.0.0.1:8000/intake",
    token: Token = None,
    user: DevUser = "avrr-cli",
    if_match: Annotated[str | None, typer.Option("--if-match", help="expected version")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Erase the personal data of every person of a case, through intake (recorded, audited)."""

    async def work(_config: Config) -> None:
        if not yes and not typer.confirm(
            f"Erase the personal data of every person of case {case_id}? This cannot be undone"
        ):
            fail("not confirmed")
        body = await erase_case_via_api(url, case_id, token=token, user=user, if_match=if_match)
        typer.echo(json.dumps(body))

    run(ctx, work)


async def erase_case_via_api(
    url: str,
    case_id: str,
    *,
    token: str | None = None,
    user: str = "avrr-cli",
    if_match: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    headers = {
        # Dev headers only: the operator at the console acts for every office.
        **auth_headers(token, user, "data_protection_officer", "*"),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    if if_match:
        headers["If-Match"] = if_match
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30, transport=transport) as c:
        try:
            response = await c.post(f"/cases/{case_id}/erasure", headers=headers)
        except httpx.TransportError as exc:
            fail(f"intake at {url} is not reachable: {exc}")
    if response.status_code >= 400:
        fail(f"intake answered {response.status_code}: {problem(response)}")
    result: dict[str, Any] = response.json()
    return result


def problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)


@erase_app.command("subject")
def erase_subject(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="the person id (key store subject)")],
    confirm: Annotated[
        str | None, typer.Option("--confirm", help="the same subject id again, to not be asked")
    ] = None,
) -> None:
    """Break glass: delete one subject's key from the key store, outside any case.

    Everything ever encrypted for the subject becomes unreadable in every
    service sharing the key store, and NO event records it: intake's case does
    not know. Prefer `avrr erase case`.
    """

    async def work(config: Config) -> None:
        err.print(
            Panel(
                f"Deletes the data key of subject [bold]{subject}[/bold] from the key store.\n"
                "Everything encrypted for them becomes unreadable in EVERY service, for good.\n"
                "No event, no audit entry, no case change records it: prefer "
                "`avrr erase case <case-id>`, which goes through intake.",
                title="[red]crypto-shredding outside the domain[/red]",
                border_style="red",
            )
        )
        typed = confirm if confirm is not None else typer.prompt("Type the subject id to confirm")
        if typed != subject:
            fail("the subject ids differ: nothing erased")
        existed = await shred_subject(config, subject)
        out.print(f"{subject}: " + ("key deleted" if existed else "no key (nothing to erase)"))

    run(ctx, work)


async def shred_subject(config: Config, subject: str) -> bool:
    """Delete the subject's key from AVRR_KEYSTORE_URL (else DATABASE_URL); True if it existed.

    Deleting needs no master key, so the CLI never asks for it here.
    """
    settings = config.settings()
    url = settings.keystore_url or settings.database_url
    if not url:
        fail("neither AVRR_KEYSTORE_URL nor DATABASE_URL is set (or --keystore-url)")
    db = Database(url, pool_size=1)
    try:
        t = tables.subject_keys
        async with db.transaction() as conn:
            result = await conn.execute(delete(t).where(t.c.subject == subject))
        return bool(result.rowcount)
    finally:
        await db.dispose()


# ----------------------------------------------------------------------- keys --


@keys_app.command("rewrap")
def keys_rewrap(
    ctx: typer.Context,
    previous_env: Annotated[
        str,
        typer.Option(
            "--previous-from", help="the variable holding the previous master key (base64)"
        ),
    ] = "AVRR_PREVIOUS_MASTER_KEY",
) -> None:
    """Rotate the master key: re-wrap every data key from the previous key to AVRR_MASTER_KEY.

    One transaction over the key store (AVRR_KEYSTORE_URL); keys already under
    the new key are left alone, so it may be run again. Run it while no
    service runs: a service holds one master key, the old one until restarted
    with the new one. The audit log's key is derived from the master key
    unless AVRR_AUDIT_KEY is set: pin that first (docs/operations.md).
    """

    async def work(config: Config) -> None:
        settings = config.settings()
        url = settings.keystore_url or settings.database_url
        if not url:
            fail("neither AVRR_KEYSTORE_URL nor DATABASE_URL is set (or --keystore-url)")
        keys: dict[str, MasterKey] = {}
        for role, variable, value in (
            ("new", "AVRR_MASTER_KEY", settings.master_key),
            ("previous", previous_env, os.environ.get(previous_env)),
        ):
            if not value:
                fail(f"{variable} is not set: the {role} master key (base64 of 32 bytes)")
            try:
                keys[role] = MasterKey(base64.b64decode(value, validate=True))
            except ValueError:
                fail(f"{variable} is not base64 of 32 bytes")
        db = Database(url, pool_size=1)
        try:
            rewrapped, already = await rewrap_keys(db, keys["previous"], keys["new"])
        except ValueError as exc:
            fail(f"{exc}: nothing changed")
        finally:
            await db.dispose()
        out.print(f"{rewrapped} keys re-wrapped, {already} already under the new master key")

    run(ctx, work)


# --------------------------------------------------------------------- outbox --


async def set_aside_rows(config: Config) -> list[dict[str, Any]]:
    """The outbox rows set aside, oldest first, with their event's type, case and time."""
    o, e = tables.outbox, tables.events
    db = Database(config.database_url(), pool_size=1)
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    o.c.id,
                    o.c.topic,
                    o.c.failed_at,
                    o.c.failure_reason,
                    e.c.event_id,
                    e.c.type,
                    e.c.subject,
                    e.c.time,
                )
                .select_from(o.join(e, e.c.position == o.c.position))
                .where(o.c.failed_at.is_not(None))
                .order_by(o.c.id)
            )
            return [
                {
                    "id": r.id,
                    "topic": r.topic,
                    "event_id": str(r.event_id),
                    "type": r.type,
                    "subject": r.subject,
                    "time": r.time.isoformat(),
                    "failed_at": r.failed_at.isoformat(),
                    "reason": r.failure_reason,
                }
                for r in rows
            ]
    finally:
        await db.dispose()


@outbox_app.command("set-aside")
def outbox_set_aside(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Rows the relay set aside because the broker refused them for their size.

    Their events are in the event store but not on the topic; the relay
    publishes the rows behind them. Raise the broker's (or the topic's)
    message.max.bytes, then `avrr outbox release`.
    """
    find_service(service)

    async def work(config: Config) -> None:
        rows = await set_aside_rows(config)
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row))
            return
        table = Table(
            "id",
            "type",
            "subject",
            "topic",
            "failed at",
            "reason",
            title=f"{service}: {len(rows)} outbox row(s) set aside",
        )
        for row in rows:
            table.add_row(
                str(row["id"]),
                row["type"],
                row["subject"],
                row["topic"],
                row["failed_at"],
                (row["reason"] or "")[:100],
            )
        out.print(table)

    run(ctx, work)


@outbox_app.command("release")
def outbox_release(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="an installed service")],
    ids: Annotated[list[int], typer.Option("--id", help="a set-aside row's id (repeatable)")],
) -> None:
    """Give set-aside rows back to the relay (after the broker's limit was raised).

    They go out after the rows that were published meanwhile: consumers see the
    event late, out of its case's order.
    """
    find_service(service)

    async def work(config: Config) -> None:
        o = tables.outbox
        db = Database(config.database_url(), pool_size=1)
        try:
            async with db.transaction() as conn:
                result = await conn.execute(
                    update(o)
                    .where(o.c.id.in_(ids), o.c.failed_at.is_not(None))
                    .values(failed_at=None, failure_reason=None)
                )
        finally:
            await db.dispose()
        typer.echo(f"{result.rowcount} row(s) released to the relay")

    run(ctx, work)


# ----------------------------------------------------------------------- demo --


@app.command()
def demo(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="AVRR_URL", help="root of the embedded platform")
    ] = "http://127.0.0.1:8000",
    token: Token = None,
    user: DevUser = "avrr-cli",
) -> None:
    """Load demo cases through intake's development-only POST /intake/demo (make run)."""

    async def work(_config: Config) -> None:
        cases = await load_demo(url, token=token, user=user)
        columns = sorted({k for case in cases if isinstance(case, dict) for k in case})
        table = Table(*columns, title=f"{len(cases)} demo case(s) loaded")
        for case in cases:
            table.add_row(*(str(case.get(c, "")) for c in columns))
        out.print(table)

    run(ctx, work)


async def load_demo(url: str, *, token: str | None = None, user: str = "avrr-cli") -> list[Any]:
    headers = {
        **auth_headers(token, user, "caseworker", "GT-GUA"),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    with progress_bar() as bar:
        bar.add_task("loading demo cases (through every service's API)", total=None)
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=300) as client:
            try:
                response = await client.post("/intake/demo", headers=headers)
            except httpx.TransportError as exc:
                fail(f"{url} is not reachable: {exc}")
    if response.status_code == 404:
        fail(
            "POST /intake/demo answered 404: it exists in development mode only (AVRR_DEV=1, "
            "as `make run` sets) and needs every service under one root"
        )
    if response.status_code >= 400:
        fail(f"intake answered {response.status_code}: {problem(response)}")
    cases: list[Any] = response.json().get("cases", [])
    return cases


def main() -> None:
    app()


if __name__ == "__main__":
    main()
