"""``avrr schema asyncapi|json <service>``: a service's published documents on stdout."""

from __future__ import annotations

import json
from typing import Any

import typer

from avrr_events.asyncapi import asyncapi_document
from avrr_events.cli.base import Config, ServiceArg, find_service, run
from avrr_events.consumer import dead_letter_topic
from avrr_events.setup import SetupSettings
from avrr_events.web.service import Service

schema_app = typer.Typer(help="Published documents of a service's events.")


# -------------------------------------------------------------------- schemas --


@schema_app.command("asyncapi")
def schema_asyncapi(ctx: typer.Context, service: ServiceArg) -> None:
    """The service's AsyncAPI 3 document (JSON) on stdout."""

    def work(config: Config) -> None:
        typer.echo(json.dumps(asyncapi_of(find_service(service), config.settings()), indent=2))

    run(ctx, work)


@schema_app.command("json")
def schema_json(ctx: typer.Context, service: ServiceArg) -> None:
    """The JSON Schema of every event type the service writes or reads, by type, on stdout."""

    def work(_config: Config) -> None:
        typer.echo(json.dumps(find_service(service).registry.json_schemas(), indent=2))

    run(ctx, work)


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
