"""``avrr services``, ``avrr serve <service>``, ``avrr setup <service>``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from avrr_events import serve as serving
from avrr_events import setup as preparing
from avrr_events.cli import base
from avrr_events.cli.base import Config, ServiceArg, fail, find_service, out, run
from avrr_events.consumer import dead_letter_topic
from avrr_events.settings import ROLES

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
    service: ServiceArg,
    host: Annotated[str, typer.Option(envvar="AVRR_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="AVRR_PORT")] = 8000,
    role: Annotated[
        str | None,
        typer.Option(help="all, api (REST only) or worker (consumer, relays, jobs); AVRR_ROLE"),
    ] = None,
) -> None:
    """Run one service (REST API, consumer, outbox relay) as this process.

    The same function as ``python -m avrr_events.serve`` (environment check first)."""

    def work(config: Config) -> None:
        if role is not None and role not in ROLES:
            fail(f"--role must be one of {', '.join(ROLES)}")
        found = find_service(service)
        serving.serve(
            service,
            role=role,
            host=host,
            port=port,
            overrides=dict(config.overrides),
            service=found,
        )

    run(ctx, work)


def setup(ctx: typer.Context, service: ServiceArg) -> None:
    """Migrate a service's database and key store to head, create its topics (the Job's command).

    The same function as ``python -m avrr_events.setup`` (environment check first)."""

    def work(config: Config) -> None:
        found = find_service(service)
        topics = preparing.setup(
            service, overrides=dict(config.overrides), service_logs=False, service=found
        )
        out.print(f"{service}: schema at head; topics: {', '.join(topics) or 'none (no Kafka)'}")

    run(ctx, work)
