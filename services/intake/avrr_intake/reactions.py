"""What intake does when other services' events arrive.

- DepartureConfirmed, ArrivalConfirmed (travel): queue the case's public
  record for the authorities of the country of origin (``avrr.public.ReturnDeparted``
  / ``ReturnArrived``), if anyone in the household consented to share with them
  (authorities.py renders it at publish time, from the consent of that moment).

Everything else intake reads of the others it only shows and counts: the
timeline, the reports, the hand-over and the retention clock are projections
(read_models.py, timeline.py, reports.py, handover.py, retention.py), never
decisions.

Each reaction runs inside the consumer's transaction (inbox row + queued
notice), so a redelivered event never queues a record twice.
"""

from __future__ import annotations

from avrr_events import EventStore, HandlerContext
from avrr_events.consumer import Reaction, reactions_table
from avrr_intake.authorities import ReturnArrived, ReturnDeparted, queue_record
from avrr_intake.observed import ArrivalConfirmed, DepartureConfirmed


def store(ctx: HandlerContext) -> EventStore:
    """Intake's event store: the case's consent is folded from its stream."""
    assert ctx.store is not None, "intake's consumer is built with its event store"
    return ctx.store


async def queue_departure(ctx: HandlerContext, event: DepartureConfirmed) -> None:
    """Travel confirmed the departure: queue the record if anyone consented to share."""
    await queue_record(ctx.conn, store(ctx), ReturnDeparted, event.case_id, event.departed_at, None)


async def queue_arrival(ctx: HandlerContext, event: ArrivalConfirmed) -> None:
    """Travel confirmed the arrival: queue the record if anyone consented to share."""
    await queue_record(
        ctx.conn,
        store(ctx),
        ReturnArrived,
        event.case_id,
        event.arrived_at,
        event.destination_country,
    )


REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {DepartureConfirmed: [queue_departure], ArrivalConfirmed: [queue_arrival]}
)
