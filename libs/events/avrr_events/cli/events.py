"""``avrr events map``: producers, reactions and read models of every event, across services."""

from __future__ import annotations

from typing import Annotated

import typer

from avrr_events import event_map

events_app = typer.Typer(help="The events of every installed service, across services.")


@events_app.command("map")
def events_map(
    fmt: Annotated[
        event_map.Format, typer.Option("--format", help="markdown (docs/event-map.md) or json")
    ] = event_map.Format.markdown,
) -> None:
    """Every event type: producer (service, module, aggregate), schema, reactions, read models."""
    typer.echo(event_map.render(event_map.build(), fmt), nl=False)
