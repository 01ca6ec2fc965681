"""What intake does when other services' events arrive.

- DepartureConfirmed, ArrivalConfirmed (travel): queue the case's public
  record for the authorities of the country of origin (``avrr.public.ReturnDeparted``
  / ``ReturnArrived``), if anyone in the household consented to share with them
  (authorities.py renders it at publish time, from the consent of that moment).

- AmendmentRefused (eligibility): a ReturnRequestAmended reached eligibility after
  the clearance it raced with; the case records ReturnAmendmentRefused, which restores
  the destination cleared (amendment.py).

- TravellerRemovalRefused (travel): a HouseholdMemberRemoved reached the movement
  after the departure it raced with; the case records HouseholdMemberRestored.
- TravellerAdditionRefused (travel): a HouseholdMemberAdded's lapse of the clearance
  reached the movement after the departure it raced with; the case records
  HouseholdAdditionReversed. HouseholdAdditionRefused (eligibility) does the same (once
  recorded for an addition that reached a cleared assessment; now after that reversal, when
  it finds nothing more to reverse).

Everything else intake reads of the others it only shows and counts: the
timeline, the reports, the hand-over and the retention clock are projections
(read_models.py, timeline.py, reports.py, handover.py, retention.py), never
decisions.

Each reaction runs inside the consumer's transaction (inbox row + queued
notice), so a redelivered event never queues a record twice.
"""

from __future__ import annotations

from collections.abc import Callable

from avrr_events import EventStore, HandlerContext, Repository
from avrr_events.consumer import Reaction, reactions_table
from avrr_intake.amendment import ReturnAmendmentRefused
from avrr_intake.authorities import ReturnArrived, ReturnDeparted, queue_record
from avrr_intake.case import Case
from avrr_intake.events import registry
from avrr_intake.household_change import HouseholdAdditionReversed, HouseholdMemberRestored
from avrr_intake.observed import (
    AmendmentRefused,
    ArrivalConfirmed,
    DepartureConfirmed,
    HouseholdAdditionRefused,
    TravellerAdditionRefused,
    TravellerRemovalRefused,
)


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


async def restore_cleared_destination(ctx: HandlerContext, event: AmendmentRefused) -> None:
    """Eligibility refused an amendment (it had cleared the return first): the case's
    destination is again the one cleared, in the consumer's transaction."""

    def refuse(case: Case) -> None:
        case.refuse_amendment(
            ReturnAmendmentRefused(
                case_id=event.case_id,
                amendment_id=event.amendment_id,
                destination_country=event.destination_country,
                destination_region=event.destination_region,
                programme_hint=event.programme_hint,
                refused_at=event.refused_at,
            )
        )

    await _record_on_case(ctx, event.case_id, refuse)


async def restore_departed_member(ctx: HandlerContext, event: TravellerRemovalRefused) -> None:
    """Travel refused a removal: the person had departed with the household, which they are
    a member of again, in the consumer's transaction."""

    def restore(case: Case) -> None:
        person = case.removed.get(event.person_id)
        if person is None:
            return
        case.restore_member(
            HouseholdMemberRestored(
                case_id=event.case_id,
                person_id=event.person_id,
                age_years=person.age_years,
                sex=person.sex,
                relationship=person.relationship,
                household_size=len(case.people) + 1,
                restored_at=event.refused_at,
            )
        )

    await _record_on_case(ctx, event.case_id, restore)


async def reverse_refused_addition(
    ctx: HandlerContext, event: HouseholdAdditionRefused | TravellerAdditionRefused
) -> None:
    """Travel (or eligibility) refused an addition (the household departed, or was cleared,
    without the person): the person is not a member of the case, in the consumer's
    transaction."""

    def reverse(case: Case) -> None:
        case.reverse_addition(
            HouseholdAdditionReversed(
                case_id=event.case_id,
                person_id=event.person_id,
                household_size=max(len(case.people) - 1, 1),
                reversed_at=event.refused_at,
            )
        )

    await _record_on_case(ctx, event.case_id, reverse)


async def _record_on_case(
    ctx: HandlerContext, case_id: str, record: Callable[[Case], None]
) -> None:
    """How a reaction changes a case (``HandlerContext.record_on``)."""
    await ctx.record_on(
        Repository(store(ctx), registry, Case, source="/avrr/intake"), case_id, record
    )


REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {
        DepartureConfirmed: [queue_departure],
        ArrivalConfirmed: [queue_arrival],
        AmendmentRefused: [restore_cleared_destination],
        TravellerRemovalRefused: [restore_departed_member],
        HouseholdAdditionRefused: [reverse_refused_addition],
        TravellerAdditionRefused: [reverse_refused_addition],
    }
)
