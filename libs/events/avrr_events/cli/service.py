"""``avrr services``, ``avrr serve <service>``, ``avrr setup <service>``."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.table import Table

from avrr_events import logs, migrations
from avrr_events.cli import base
from avrr_events.cli.base import Config, fail, find_service, out, run
from avrr_events.consumer import dead_letter_topic
from avrr_events.settings import ROLES, RoleNotSupported, UnsafeAuthentication
from avrr_events.setup import prepare

# ------------------------------------------------------- services, serve, setup --


def list_services(ctx: typer.Context) -> None:
    """The installed services: topic, consumer group, observed services."""

    def work(config: Config) -> None:
        settings = config.settings()
        table = Table("service", "topic", "consumer group", "dead letters", "observes")
        for s in base.installed_services():  # the seam tests replace
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
