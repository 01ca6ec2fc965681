"""What reintegration does when other services' events arrive.

- VulnerabilityAssessed (eligibility): remember the person's priority score
  (and move a waiting case, or reconsider one not offered, if it changed).
- ConsentWithdrawn (intake): no more referrals to partners once sharing with
  reintegration partners is withdrawn; "do not contact" on the monitoring lists
  once contact by the programme is; no plan or disbursement while the consent to
  process the return is. ConsentGiven (contact) and ReturnResumed lift the last two.
- ArrivalConfirmed (travel): decide granted / waitlisted / not offered.
- CaseWithdrawn, PersonalDataErased (intake): stop the case for good and free
  its place for the highest-priority waiting case; on erasure also shred the
  case's notes and forget its per-case rows.
- CaseReopened (intake): a withdrawn case goes on (ReintegrationReopened): before
  its arrival, its arrival decides as for any case; after it, a case that had a
  place (or waited for one) is admitted again.

Each reaction runs inside the consumer's transaction (inbox row + new events),
so a redelivered event never acts twice, and one that races a REST command on
the same streams fails on the stream version and is retried by the consumer.

The reactions decide through the service's command object (programme
catalogue, cipher for crypto-shredding), which the runtime builds once
(``Service(commands=...)`` in main.py) and hands to every reaction as
``HandlerContext.commands``.
"""

from __future__ import annotations

from avrr_events import HandlerContext
from avrr_events.consumer import Reaction, reactions_table
from avrr_reintegration.commands import ReintegrationCommands
from avrr_reintegration.observed import (
    ArrivalConfirmed,
    CaseReopened,
    CaseWithdrawn,
    ConsentGiven,
    ConsentWithdrawn,
    PersonalDataErased,
    ReturnResumed,
    VulnerabilityAssessed,
)


def commands(ctx: HandlerContext) -> ReintegrationCommands:
    """The service's command object, as the runtime built it (main.py)."""
    built: ReintegrationCommands = ctx.commands
    return built


async def remember_vulnerability(ctx: HandlerContext, event: VulnerabilityAssessed) -> None:
    await commands(ctx).note_vulnerability(ctx.conn, event, ctx.cause)


async def remember_consent_withdrawal(ctx: HandlerContext, event: ConsentWithdrawn) -> None:
    await commands(ctx).note_consent_withdrawal(ctx.conn, event, ctx.cause)


async def lift_on_consent(ctx: HandlerContext, event: ConsentGiven) -> None:
    # The return's own consent is lifted by ReturnResumed: once every member gave it again.
    if event.purpose == "contact_by_programme":
        await commands(ctx).note_consent_given(ctx.conn, event.case_id, event.purpose)


async def lift_on_resumption(ctx: HandlerContext, event: ReturnResumed) -> None:
    await commands(ctx).note_consent_given(ctx.conn, event.case_id, "return_assistance_processing")


async def decide_on_arrival(ctx: HandlerContext, event: ArrivalConfirmed) -> None:
    await commands(ctx).decide_on_arrival(ctx.conn, event, ctx.cause)


async def stop_on_withdrawal(ctx: HandlerContext, event: CaseWithdrawn) -> None:
    await commands(ctx).on_withdrawal(ctx.conn, event, ctx.cause)


async def go_on_after_reopening(ctx: HandlerContext, event: CaseReopened) -> None:
    await commands(ctx).on_reopening(ctx.conn, event, ctx.cause)


async def stop_on_erasure(ctx: HandlerContext, event: PersonalDataErased) -> None:
    await commands(ctx).on_erasure(ctx.conn, event, ctx.cause)


REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {
        VulnerabilityAssessed: [remember_vulnerability],
        ArrivalConfirmed: [decide_on_arrival],
        CaseWithdrawn: [stop_on_withdrawal],
        CaseReopened: [go_on_after_reopening],
        ConsentWithdrawn: [remember_consent_withdrawal],
        ConsentGiven: [lift_on_consent],
        ReturnResumed: [lift_on_resumption],
        PersonalDataErased: [stop_on_erasure],
    }
)
