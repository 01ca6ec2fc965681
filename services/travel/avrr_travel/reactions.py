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
from avrr_events.places import place
from avrr_events.withdrawal import Withdrawal, commands_after
from avrr_travel import consents, destinations
from avrr_travel.commands import MovementCommands
from avrr_travel.movement import (
    CLEARANCE_LAPSED_REASON,
    CONFLICTING,
    CONSENT_WITHDRAWN_REASON,
    Movement,
)
from avrr_travel.observed import (
    AssessmentClosed,
    AssessmentReopened,
    CaseWithdrawn,
    ConsentGiven,
    ConsentWithdrawn,
    DestinationReopened,
    DestinationSuspended,
    DueDiligenceCleared,
    HouseholdCorrected,
    HouseholdMemberJoined,
    HouseholdMemberLeft,
    PersonalDataErased,
    VulnerabilityAssessed,
)


def movements(ctx: HandlerContext) -> Repository[Movement]:
    """The movements' repository of the service's commands (``Service(commands=...)``)."""
    assert isinstance(ctx.commands, MovementCommands), "main.py declares travel's commands"
    return ctx.commands.repo


async def _save_and_remember(ctx: HandlerContext, movement: Movement) -> None:
    """Append what the movement recorded and keep its destination row in step
    (``destinations.remember``), in the consumer's transaction."""
    await movements(ctx).save(movement, ctx.cause, conn=ctx.conn)
    await destinations.remember(ctx.conn, movement)


async def open_movement(ctx: HandlerContext, event: DueDiligenceCleared) -> None:
    """Open the household's movement; hold it at once if its destination is suspended."""
    await destinations.serialise(ctx.conn, event.destination_country)
    movement = await movements(ctx).load(event.case_id, conn=ctx.conn)
    now = datetime.now(UTC)
    if not movement.open(event, opened_at=now):
        return
    suspended = await destinations.suspension_covering(
        ctx.conn, event.destination_country, event.destination_region
    )
    if suspended is not None:
        movement.hold(suspended, now)
    await _save_and_remember(ctx, movement)


async def cancel_on_withdrawal(ctx: HandlerContext, event: CaseWithdrawn) -> None:
    """Cancel the movement (booking included); a later clearance of the case opens nothing."""
    withdrawal = Withdrawal("case_withdrawn", ctx.envelope.id, event.withdrawn_at)
    await _withdraw(ctx, event.case_id, f"case withdrawn: {event.reason}", withdrawal)


async def obey_consent_withdrawal(ctx: HandlerContext, event: ConsentWithdrawn) -> None:
    """Without consent to process the return there is no movement; without consent to
    process medical data, no new health details are recorded and none are shown."""
    if event.purpose == consents.RETURN_ASSISTANCE_PROCESSING:
        reason = "consent to the processing of the return withdrawn"
        withdrawal = Withdrawal("consent_withdrawn", ctx.envelope.id, event.withdrawn_at)
        await _withdraw(ctx, event.case_id, reason, withdrawal)
    elif event.purpose == consents.MEDICAL_DATA_PROCESSING:
        await consents.record_withdrawal(
            ctx.conn, event.case_id, event.person_id, event.withdrawn_at
        )


async def _withdraw(ctx: HandlerContext, case_id: str, reason: str, withdrawal: Withdrawal) -> None:
    """Cancel what is still open, and flag every ticket or departure recorded after the
    withdrawal's time: they reached travel inside its window, before this event did."""
    assert ctx.store is not None
    movement = await movements(ctx).load(case_id, conn=ctx.conn)
    if movement.ended_before_restart(withdrawal.withdrawn_at):
        return  # late news of the withdrawal that the reopened case came back from
    now = datetime.now(UTC)
    movement.withdraw(reason, now)
    found = await commands_after(ctx.store, movement.stream_id, CONFLICTING, withdrawal, ctx.conn)
    movement.flag_withdrawal_conflicts(found, withdrawal, now)
    if movement.pending:
        await _save_and_remember(ctx, movement)


async def note_medical_consent(ctx: HandlerContext, event: ConsentGiven) -> None:
    """Health details may be recorded for the person from now on (consents.py)."""
    if event.purpose == consents.MEDICAL_DATA_PROCESSING:
        await consents.record_given(ctx.conn, event.case_id, event.person_id, event.recorded_at)


async def follow_closed_assessment(ctx: HandlerContext, event: AssessmentClosed) -> None:
    """No return goes on while the assessment is closed. Intake's withdrawal usually cancelled
    the movement first; this closes the gaps between the two topics: a clearance that
    reached travel after the withdrawal did, and a reopening followed by a case withdrawal."""
    consent = event.cause == "consent_withdrawn" or (
        event.cause is None and event.reason.startswith("consent to the processing")
    )
    reason = CONSENT_WITHDRAWN_REASON if consent else f"assessment closed: {event.reason[:900]}"
    movement = await movements(ctx).load(event.case_id, conn=ctx.conn)
    if movement.withdraw(reason, datetime.now(UTC)):
        await _save_and_remember(ctx, movement)


async def reinstate_on_reopening(ctx: HandlerContext, event: AssessmentReopened) -> None:
    """The consent was given again: the movement it cancelled prepares again (held at once
    if its destination is suspended meanwhile); one it kept from opening may now open.
    The case was reopened: the movement starts over, and eligibility's new clearance opens it
    (held then if its destination is suspended)."""
    movement = await movements(ctx).load(event.case_id, conn=ctx.conn)
    now = datetime.now(UTC)
    if event.cause == "case_reopened":
        if movement.start_over(now):
            await _save_and_remember(ctx, movement)
        return
    if not event.cleared and movement.opened is not None:
        # A person joined the household while it was paused: its clearance lapsed.
        if movement.start_over(now, CLEARANCE_LAPSED_REASON):
            await _save_and_remember(ctx, movement)
        return
    if not movement.reinstate(now):
        return
    if movement.opened is not None:
        await destinations.serialise(ctx.conn, movement.opened.destination_country)
        suspended = await destinations.suspension_covering(
            ctx.conn, movement.opened.destination_country, movement.opened.destination_region
        )
        if suspended is not None:
            movement.hold(suspended, now)
    await _save_and_remember(ctx, movement)


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
    where = place(event.destination_country, event.destination_region)
    reason = destinations.held_reason(where, event.reason)
    repo = movements(ctx)
    now = datetime.now(UTC)
    for case_id in await destinations.open_movements_to(
        ctx.conn, event.destination_country, event.destination_region
    ):
        await ctx.record_on(repo, case_id, lambda m: m.hold(reason, now))


async def release_on_reopening(ctx: HandlerContext, event: DestinationReopened) -> None:
    """Release the held movements the reopened destination no longer keeps from travelling."""
    await destinations.serialise(ctx.conn, event.destination_country)
    await destinations.reopen(ctx.conn, event.destination_country, event.destination_region)
    where = place(event.destination_country, event.destination_region)
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
        if still is None and movement.release(f"destination {where.label} reopened", now):
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


async def take_off_the_movement(ctx: HandlerContext, event: HouseholdMemberLeft) -> None:
    """A person left the cleared household: off the movement until departure, refused after
    it (the race with the departure is settled on the movement's stream)."""
    if not event.cleared:
        return  # eligibility's clearance will name the household without them
    at = datetime.now(UTC)
    await ctx.record_on(
        movements(ctx), event.case_id, lambda m: m.remove_traveller(event.person_id, at)
    )


async def wait_for_the_new_clearance(ctx: HandlerContext, event: HouseholdMemberJoined) -> None:
    """A person joined the cleared household, whose clearance lapsed: the movement waits for
    the household's new clearance until departure, refuses the addition after it (the race
    with the departure is settled on the movement's stream)."""
    if not event.clearance_lapsed:
        return  # eligibility's clearance will name the household with them
    at = datetime.now(UTC)
    await ctx.record_on(
        movements(ctx), event.case_id, lambda m: m.lapse_clearance(event.person_id, at)
    )


async def correct_the_travellers(ctx: HandlerContext, event: HouseholdCorrected) -> None:
    """Ages or sexes corrected in intake after clearance: the travellers read so until the
    departure (before clearance, eligibility's clearance names the corrected household)."""
    if not event.cleared:
        return
    at = datetime.now(UTC)
    await ctx.record_on(
        movements(ctx), event.case_id, lambda m: m.correct_travellers(event.household, at)
    )


async def note_vulnerability_screening(ctx: HandlerContext, event: VulnerabilityAssessed) -> None:
    """Keep the screening's needs for an escort on the movement (opened or not yet: screening
    is done during the assessment), so the ticket requires the escorts they call for."""
    await ctx.record_on(
        movements(ctx),
        event.case_id,
        lambda m: m.note_screening(event.person_id, event.needs, event.assessed_at),
    )


REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {
        DueDiligenceCleared: [open_movement],
        HouseholdMemberLeft: [take_off_the_movement],
        HouseholdMemberJoined: [wait_for_the_new_clearance],
        HouseholdCorrected: [correct_the_travellers],
        VulnerabilityAssessed: [note_vulnerability_screening],
        CaseWithdrawn: [cancel_on_withdrawal],
        ConsentWithdrawn: [obey_consent_withdrawal],
        AssessmentClosed: [follow_closed_assessment],
        AssessmentReopened: [reinstate_on_reopening],
        ConsentGiven: [note_medical_consent],
        PersonalDataErased: [shred_on_erasure],
        DestinationSuspended: [hold_on_suspension],
        DestinationReopened: [release_on_reopening],
    }
)
