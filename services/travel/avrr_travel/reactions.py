"""What travel does when other services' events arrive.

Each reaction runs inside the consumer's transaction (inbox row + new events +
write-side lookups), so a redelivered event never acts twice, and a reaction
that races a REST command on the same movement fails on the stream version and
is retried by the consumer on the fresh state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from avrr_events import HandlerContext, Repository
from avrr_events.consumer import Reaction, reactions_table
from avrr_travel import consents, destinations
from avrr_travel.movement import Movement, registry
from avrr_travel.observed import (
    CaseWithdrawn,
    ConsentWithdrawn,
    DestinationReopened,
    DestinationSuspended,
    DueDiligenceCleared,
    PersonalDataErased,
)

SOURCE = "/avrr/travel"


def movements(ctx: HandlerContext) -> Repository[Movement]:
    assert ctx.store is not None, "travel's consumer is built with its event store"
    return Repository(ctx.store, registry, Movement, source=SOURCE)


async def open_movement(ctx: HandlerContext, event: DueDiligenceCleared) -> None:
    """Open the household's movement; hold it at once if its destination is suspended."""
    await destinations.serialise(ctx.conn, event.destination_country)
    repo = movements(ctx)
    movement = await repo.load(event.case_id, conn=ctx.conn)
    now = datetime.now(UTC)
    if not movement.open(event, opened_at=now):
        return
    suspended = await destinations.suspension_covering(
        ctx.conn, event.destination_country, event.destination_region
    )
    if suspended is not None:
        movement.hold(suspended, now)
    await repo.save(movement, ctx.cause, conn=ctx.conn)
    await destinations.remember(ctx.conn, movement, ctx.envelope.correlationid)


async def cancel_on_withdrawal(ctx: HandlerContext, event: CaseWithdrawn) -> None:
    """Cancel the movement (booking included); a later clearance of the case opens nothing."""
    repo = movements(ctx)
    movement = await repo.load(event.case_id, conn=ctx.conn)
    if movement.withdraw(f"case withdrawn: {event.reason}", datetime.now(UTC)):
        await repo.save(movement, ctx.cause, conn=ctx.conn)
        await destinations.remember(ctx.conn, movement)


async def obey_consent_withdrawal(ctx: HandlerContext, event: ConsentWithdrawn) -> None:
    """Without consent to process the return there is no movement; without consent to
    process medical data, no new health details are recorded and none are shown."""
    if event.purpose == consents.RETURN_ASSISTANCE_PROCESSING:
        repo = movements(ctx)
        movement = await repo.load(event.case_id, conn=ctx.conn)
        reason = "consent to the processing of the return withdrawn"
        if movement.withdraw(reason, datetime.now(UTC)):
            await repo.save(movement, ctx.cause, conn=ctx.conn)
            await destinations.remember(ctx.conn, movement)
    elif event.purpose == consents.MEDICAL_DATA_PROCESSING:
        await consents.record_withdrawal(
            ctx.conn, event.case_id, event.person_id, event.withdrawn_at
        )


async def hold_on_suspension(ctx: HandlerContext, event: DestinationSuspended) -> None:
    """Hold every open movement to the suspended destination."""
    await destinations.serialise(ctx.conn, event.destination_country)
    await destinations.suspend(
        ctx.conn,
        event.destination_country,
        event.destination_region,
        event.reason,
        event.suspended_at,
    )
    key = destinations.destination_key(event.destination_country, event.destination_region)
    reason = f"destination {key} suspended: {event.reason[:1000]}"
    repo = movements(ctx)
    now = datetime.now(UTC)
    for case_id in await destinations.open_movements_to(
        ctx.conn, event.destination_country, event.destination_region
    ):
        movement = await repo.load(case_id, conn=ctx.conn)
        if movement.hold(reason, now):
            await repo.save(movement, ctx.cause, conn=ctx.conn)


async def release_on_reopening(ctx: HandlerContext, event: DestinationReopened) -> None:
    """Release the held movements the reopened destination no longer keeps from travelling."""
    await destinations.serialise(ctx.conn, event.destination_country)
    await destinations.reopen(ctx.conn, event.destination_country, event.destination_region)
    key = destinations.destination_key(event.destination_country, event.destination_region)
    repo = movements(ctx)
    now = datetime.now(UTC)
    for case_id in await destinations.open_movements_to(
        ctx.conn, event.destination_country, event.destination_region
    ):
        movement = await repo.load(case_id, conn=ctx.conn)
        assert movement.opened is not None
        still = await destinations.suspension_covering(
            ctx.conn, movement.opened.destination_country, movement.opened.destination_region
        )
        if still is None and movement.release(f"destination {key} reopened", now):
            await repo.save(movement, ctx.cause, conn=ctx.conn)


async def shred_on_erasure(ctx: HandlerContext, event: PersonalDataErased) -> None:
    """Delete the people's data keys from travel's key store (crypto-shredding).

    Health details and transit notes were encrypted under these keys, so every
    copy (event store, read models, topic) becomes unreadable at once. Keys in
    travel's own database go in the consumer's transaction, once; when they
    live in a key database shared by every service, intake already deleted
    them and this finds nothing (travel's database then has no key table at
    all: deleting there failed, and every erasure was dead-lettered).
    """
    assert ctx.cipher is not None and ctx.store is not None, "the runtime passes both"
    await ctx.cipher.erase_within(ctx.conn, ctx.store.db, event.person_ids)


REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {
        DueDiligenceCleared: [open_movement],
        CaseWithdrawn: [cancel_on_withdrawal],
        ConsentWithdrawn: [obey_consent_withdrawal],
        PersonalDataErased: [shred_on_erasure],
        DestinationSuspended: [hold_on_suspension],
        DestinationReopened: [release_on_reopening],
    }
)
