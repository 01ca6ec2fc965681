"""``avrr outbox set-aside|release <service>``: outbox rows the broker refused for their size."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select, update

from avrr_events import tables
from avrr_events.adapters.database import Database
from avrr_events.cli.base import AsJson, Config, ServiceArg, find_service, out, run

outbox_app = typer.Typer(help="A service's outbox: the rows set aside (too large for the broker).")


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
    service: ServiceArg,
    as_json: AsJson = False,
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
    service: ServiceArg,
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
