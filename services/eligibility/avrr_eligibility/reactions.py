"""What eligibility does when intake's events arrive (inside the consumer's transaction).

ReturnRequested opens the case's assessment and decides eligibility at once,
so the caseworker finds the decision and its reasons in the queue. CaseWithdrawn
closes the assessment: the person's decision not to return stops everything,
and nothing more is recorded for the case afterwards. Withdrawing the consent
to the processing of the return request closes it too: without that consent
there is nothing lawful left to assess. That closure is a pause, not an end:
intake's ReturnResumed (the consent given again) reopens the assessment where
it stood (AssessmentReopened), and travel follows from that event.
CaseReopened (the person came back to a withdrawn or closed case) takes the
closed assessment up again on its stream (AssessmentReopened, cause
case_reopened): without its old clearance or best-interests determinations,
decided again by today's rules, and waiting for ReturnResumed when it had a
request (or for the next ReturnRequested when it had none).
ReturnRequestAmended re-assesses the request with its new destination
(AssessmentAmended, EligibilityDecided) until due diligence cleared it; after
clearance (the two raced) it is refused (AmendmentRefused), and intake restores
the destination cleared. HouseholdMemberRemoved takes the person off the request
and decides again before clearance; after it, HouseholdMemberLeft (cleared)
tells travel, which takes them off the movement until departure.
HouseholdFactsCorrected (a rectified date of birth or sex) gives the request the
corrected ages and sexes (HouseholdCorrected): an unaccompanied child it reveals
needs a best-interests determination before clearance; eligibility is decided
again when the decision changes. HouseholdMemberAdded
puts the person on the request and decides again (HouseholdMemberJoined);
after clearance the clearance lapses with it, for the household to be
cleared again as a whole. HouseholdAdditionReversed (travel refused the
addition: the household had departed) takes them off the request again and
the clearance stands (HouseholdAdditionRefused).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from avrr_eligibility.assessment import (
    CONSENT_CLOSURE_REASON,
    Assessment,
    AssessmentAmended,
    AssessmentOpened,
)
from avrr_eligibility.events import SOURCE, registry
from avrr_eligibility.observed import (
    PROCESSING_CONSENT,
    CaseReopened,
    CaseWithdrawn,
    ConsentWithdrawn,
    HouseholdAdditionReversed,
    HouseholdFactsCorrected,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    ReturnRequestAmended,
    ReturnRequested,
    ReturnResumed,
)
from avrr_eligibility.programmes import Decision, ProgrammeCatalogue, ReturnRequest, decide
from avrr_events import HandlerContext, Repository
from avrr_events.consumer import Reaction, reactions_table

log = logging.getLogger(__name__)


def _repository(ctx: HandlerContext) -> Repository[Assessment]:
    assert ctx.store is not None, "eligibility's consumer appends to its own store"
    return Repository(ctx.store, registry, Assessment, source=SOURCE)


# An Assessment's change that decides its request again: (assessment, at, decide, programmes
# version) -> whether it recorded anything (remove_member, add_member, correct_household,
# reopen, amend).
Change = Callable[[Assessment, datetime, Callable[[ReturnRequest], Decision], str], bool]


def build_reactions(catalogue: ProgrammeCatalogue) -> dict[str, list[Reaction]]:
    """The reactions of the service, deciding with ``catalogue``."""

    async def open_assessment(ctx: HandlerContext, event: ReturnRequested) -> None:
        repo = _repository(ctx)
        assessment = await repo.load(event.case_id, conn=ctx.conn)
        if assessment.closed or assessment.request is not None:
            # Closed (withdrawn first) or already assessed: the first request stands.
            log.info("ReturnRequested %s for an existing assessment ignored", ctx.envelope.id)
            return
        # The request as assessed: every field of intake's event, as this service reads it.
        opened = AssessmentOpened(**dict(event), opened_at=datetime.now(UTC))
        decision = decide(catalogue, opened.return_request)
        assessment.open(opened, decision, catalogue.version)
        await repo.save(assessment, ctx.cause, conn=ctx.conn)

    async def close_assessment(ctx: HandlerContext, event: CaseWithdrawn) -> None:
        # Closed even when no request reached us yet: a late ReturnRequested is then ignored.
        reason = f"case withdrawn at intake ({event.reason})"
        now = datetime.now(UTC)
        await ctx.record_on(
            _repository(ctx), event.case_id, lambda a: a.close(reason, now, cause="case_withdrawn")
        )

    async def stop_without_consent(ctx: HandlerContext, event: ConsentWithdrawn) -> None:
        if event.purpose != PROCESSING_CONSENT:
            return  # other purposes (sharing, contact) do not stop the assessment
        now = datetime.now(UTC)
        await ctx.record_on(
            _repository(ctx),
            event.case_id,
            lambda a: a.exists and a.close(CONSENT_CLOSURE_REASON, now, cause="consent_withdrawn"),
        )

    async def reopen_on_resumption(ctx: HandlerContext, event: ReturnResumed) -> None:
        await decide_again(ctx, event.case_id, Assessment.reopen)

    async def take_up_again(ctx: HandlerContext, event: CaseReopened) -> None:
        now = datetime.now(UTC)
        await ctx.record_on(_repository(ctx), event.case_id, lambda a: a.take_up_again(now))

    async def reassess(ctx: HandlerContext, event: ReturnRequestAmended) -> None:
        amended = AssessmentAmended(
            case_id=event.case_id,
            amendment_id=event.amendment_id,
            destination_country=event.destination_country,
            destination_region=event.destination_region,
            programme_hint=event.programme_hint,
            amended_at=datetime.now(UTC),
        )
        await decide_again(ctx, event.case_id, lambda a, _at, *how: a.amend(amended, *how))

    async def decide_again(ctx: HandlerContext, case_id: str, change: Change) -> None:
        """A change of the request (``change``: an Assessment method bound to its subject:
        the household changed, the request amended, or the assessment reopened) that
        decides it again with the catalogue, saved when it recorded any."""
        now = datetime.now(UTC)
        redecide = lambda request: decide(catalogue, request)  # noqa: E731
        await ctx.record_on(
            _repository(ctx), case_id, lambda a: change(a, now, redecide, catalogue.version)
        )

    async def take_off_the_request(ctx: HandlerContext, event: HouseholdMemberRemoved) -> None:
        await decide_again(
            ctx, event.case_id, lambda a, *how: a.remove_member(event.person_id, *how)
        )

    async def put_on_the_request(ctx: HandlerContext, event: HouseholdMemberAdded) -> None:
        await decide_again(ctx, event.case_id, lambda a, *how: a.add_member(event.member, *how))

    async def keep_the_clearance(ctx: HandlerContext, event: HouseholdAdditionReversed) -> None:
        now = datetime.now(UTC)
        await ctx.record_on(
            _repository(ctx), event.case_id, lambda a: a.keep_clearance(event.person_id, now)
        )

    async def correct_the_household(ctx: HandlerContext, event: HouseholdFactsCorrected) -> None:
        await decide_again(
            ctx, event.case_id, lambda a, *how: a.correct_household(event.household, *how)
        )

    return reactions_table(
        {
            ReturnRequested: [open_assessment],
            HouseholdFactsCorrected: [correct_the_household],
            HouseholdMemberRemoved: [take_off_the_request],
            HouseholdMemberAdded: [put_on_the_request],
            HouseholdAdditionReversed: [keep_the_clearance],
            ReturnRequestAmended: [reassess],
            CaseWithdrawn: [close_assessment],
            CaseReopened: [take_up_again],
            ConsentWithdrawn: [stop_without_consent],
            ReturnResumed: [reopen_on_resumption],
        }
    )
