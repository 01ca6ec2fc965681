"""``avrr topics create [service ...]``: the Kafka topics of some or all services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from aiokafka.admin import AIOKafkaAdminClient
from rich.table import Table

from avrr_events.adapters.kafka import (
    KafkaSettings,
    TopicSpec,
    ensure_topics,
)
from avrr_events.cli import base
from avrr_events.cli.base import Config, find_service, out, run
from avrr_events.setup import topic_specs
from avrr_events.web.service import Service

topics_app = typer.Typer(help="Kafka topics.")


@topics_app.command("create")
def topics_create(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="services (default: every installed one)")
    ] = None,
) -> None:
    """Create the topics of the services (own, observed, dead letters); existing ones stay."""

    async def work(config: Config) -> None:
        chosen = [find_service(n) for n in services] if services else base.installed_services()
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
