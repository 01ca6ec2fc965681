"""Commands and reactions -> the aggregates' decisions -> events in the store (and outbox).

Every decision runs in one database transaction (a ``Work`` unit): it loads
the case's Reintegration and, when places or money are at stake, the
programme's ProgrammeAllocation, decides, and appends to both streams with
optimistic concurrency. The programme stream goes first (see allocation.py).

Concurrency, as the client sees it:
- two writers of the same case: the loser gets ConcurrencyError (HTTP 409)
  and nothing of its decision is written;
- two writers of different cases of one programme only collide on the
  programme stream; the loser's decision did not depend on the other case, so
  it is taken again on the new totals (bounded retries) and either succeeds or
  is refused by the programme cap (422). The cap therefore holds under any
  interleaving, and no client sees a spurious 409 for someone else's case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import (
    Cause,
    ConcurrencyError,
    Database,
    EventStore,
    PersonalDataCipher,
    Repository,
    SqlKeyStore,
    tables,
)
from avrr_events.commands import CommandContext, CommandResult
from avrr_events.notices import N_
from avrr_events.problems import NotFound
from avrr_events.shared_streams import decided_again_when_raced
from avrr_events.withdrawal import Resolution, Withdrawal, commands_after, serialise_case
from avrr_reintegration import read_models
from avrr_reintegration.allocation import ProgrammeAllocation, ReleaseReason
from avrr_reintegration.directory import ServiceDirectory
from avrr_reintegration.events import registry
from avrr_reintegration.notices import NO_REINTEGRATION, worded
from avrr_reintegration.observed import (
    ArrivalConfirmed,
    CaseReopened,
    CaseWithdrawn,
    ConsentWithdrawn,
    PersonalDataErased,
    VulnerabilityAssessed,
)
from avrr_reintegration.programmes import Programme, ProgrammeCatalogue
from avrr_reintegration.reintegration import (
    CONFLICTING,
    Arrival,
    AssistanceKind,
    Decision,
    PlanComponent,
    PlanComponentIn,
    Reintegration,
    ReintegrationRuleViolation,
    Stage,
    StopReason,
)
from avrr_reintegration.sustainability import score
from avrr_reintegration.vulnerability import AssessedCategory, priority_score

SOURCE = "/avrr/reintegration"
# The consent purpose (intake) a referral to a local organisation depends on.
PARTNER_SHARING = "share_with_reintegration_partners"
# Without it (withdrawn, not yet given again) no plan is agreed and nothing is disbursed.
RETURN_PROCESSING = "return_assistance_processing"
MAX_ATTEMPTS = 8


def notes_subject(case_id: str) -> str:
    """The data subject personal notes of a case are encrypted for (shredded on erasure)."""
    return f"reintegration-case:{case_id}"


def now() -> datetime:
    return datetime.now(UTC)


class UnknownCase(NotFound):
    """A command on a case this service never heard of (no arrival, no stop): 404."""


def known(case: Reintegration) -> None:
    """Refuse a command on a case without events (404, before If-Match's 412)."""
    if not case.exists:
        raise UnknownCase(wording=worded(NO_REINTEGRATION, case=case.id))


class Work:
    """One transaction's aggregates: loaded once, saved together (programmes first)."""

    def __init__(self, conn: AsyncConnection, commands: ReintegrationCommands) -> None:
        self.conn = conn
        self._commands = commands
        self.cases: dict[str, Reintegration] = {}
        self.allocations: dict[str, ProgrammeAllocation] = {}
        self.loaded: dict[str, int] = {}

    async def case(self, case_id: str) -> Reintegration:
        if case_id not in self.cases:
            case = await self._commands.cases.load(case_id, conn=self.conn)
            self.cases[case_id] = case
            self.loaded[case.stream_id] = case.version
        return self.cases[case_id]

    async def allocation(self, programme_id: str) -> ProgrammeAllocation:
        if programme_id not in self.allocations:
            alloc = await self._commands.allocations.load(programme_id, conn=self.conn)
            self.allocations[programme_id] = alloc
            self.loaded[alloc.stream_id] = alloc.version
        return self.allocations[programme_id]

    def adopt(self, case: Reintegration) -> None:
        """Take part in this unit ``case`` as loaded by ``Repository.execute``."""
        self.cases[case.id] = case
        self.loaded[case.stream_id] = case.version

    async def save(self, cause: Cause, *, but: Reintegration | None = None) -> None:
        """Append every aggregate's new events (programmes first), except ``but``'s."""
        for alloc in self.allocations.values():
            await self._commands.allocations.save(alloc, cause, conn=self.conn)
        for case in self.cases.values():
            if case is not but:
                await self._commands.cases.save(case, cause, conn=self.conn)


@dataclass(eq=False)
class ReintegrationCommands:
    """The service's write side, for the REST API and for the reactions alike."""

    db: Database
    store: EventStore
    catalogue: ProgrammeCatalogue
    directory: ServiceDirectory
    cipher: PersonalDataCipher

    def __post_init__(self) -> None:
        self.cases = Repository(self.store, registry, Reintegration, source=SOURCE)
        self.allocations = Repository(self.store, registry, ProgrammeAllocation, source=SOURCE)

    # ------------------------------------------------------------ plumbing --

    def programme(self, programme_id: str | None) -> Programme:
        programme = self.catalogue.programme(programme_id or "")
        if programme is None:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("programme %(programme)s is not configured"), programme=repr(programme_id)
                )
            )
        return programme

    async def execute(
        self,
        case_id: str,
        context: CommandContext,
        decide: Callable[[Work, Reintegration], Awaitable[None]],
        *,
        status: int = 201,
    ) -> CommandResult:
        """One command on ``case_id`` in its own transaction, retrying programme races.

        ``Repository.execute`` loads the case, checks If-Match and appends its
        events; what the decision also changed in the same ``Work`` (the
        programme's allocation, a waiting case granted a freed place) is
        appended before it, under the same cause. The answer names the case
        and its new version (the ETag).
        """

        async def decide_in(work: Work, case: Reintegration) -> None:
            work.adopt(case)
            await decide(work, case)
            await work.save(context.cause(case.subject), but=case)

        work: Work | None = None

        async def attempt() -> CommandResult:
            nonlocal work
            work = None
            async with self.db.transaction() as conn:
                work = Work(conn, self)
                done = await self.cases.execute(
                    case_id, context, partial(decide_in, work), guard=known, conn=conn
                )
            self.db.appended()
            return CommandResult.of(done.aggregate.version, status=status, case_id=case_id)

        async def programme_raced(exc: ConcurrencyError) -> bool:
            # Only the programme's stream is shared; a moved case is the caller's 409.
            return (
                work is not None
                and exc.stream_id.startswith(f"{ProgrammeAllocation.stream_type}-")
                and not await self._cases_moved(work)
            )

        return await decided_again_when_raced(attempt, attempts=MAX_ATTEMPTS, retry=programme_raced)

    async def _cases_moved(self, work: Work) -> bool:
        for case in work.cases.values():
            if await self.store.stream_version(case.stream_id) != work.loaded[case.stream_id]:
                return True
        return False

    async def react(
        self, conn: AsyncConnection, decide: Callable[[Work], Awaitable[None]], cause: Cause
    ) -> None:
        """Run a reaction's decision inside the consumer's transaction (it retries on conflict)."""
        work = Work(conn, self)
        await decide(work)
        await work.save(cause)

    # ---------------------------------------------------------- reactions --

    async def note_vulnerability(
        self, conn: AsyncConnection, event: VulnerabilityAssessed, cause: Cause
    ) -> None:
        """Keep the assessed person's priority score for the decision on arrival.

        Topics are ordered per case but not across services, so an assessment
        may come after the arrival decision: a waiting case then moves in the
        waitlist, and a case not offered for lack of vulnerability is
        reconsidered.
        """
        points = priority_score(
            (AssessedCategory(c.category, c.severity) for c in event.categories),
            self.catalogue.priority,
        )
        await read_models.save_priority(
            conn, event.case_id, event.person_id or "", points, event.assessed_at
        )

        async def decide(work: Work) -> None:
            case = await work.case(event.case_id)
            s = case.state
            if case.stopped or s.decision not in ("waitlisted", "not_offered"):
                return
            priority = await read_models.case_priority(conn, event.case_id)
            programme = self.catalogue.programme(s.programme_id or "")
            if programme is None or priority == s.priority or s.arrived_on is None:
                return
            alloc = await work.allocation(programme.id)
            reason = f"priority revised from {s.priority} to {priority} by a new assessment"
            if s.decision == "waitlisted":
                alloc.reprioritise(case.id, priority)
                case.reconsider("waitlisted", priority, reason, now())
            elif priority >= programme.min_priority:
                arrived = datetime.combine(s.arrived_on, datetime.min.time(), tzinfo=UTC)
                decision = alloc.admit(case.id, priority, arrived, programme)
                case.reconsider(decision, priority, reason, now())

        await self.react(conn, decide, cause)

    async def note_consent_withdrawal(
        self, conn: AsyncConnection, event: ConsentWithdrawn, cause: Cause | None = None
    ) -> None:
        """Remember the withdrawn purpose; for the return's own consent, flag every
        disbursement recorded after the withdrawal's time (avrr_events.withdrawal).

        The suspension is a row the commands check, not an event of the case's
        stream, so the row, the check and the scan are serialised by the case's
        withdrawal lock: a disbursement either sees the row or is seen by the scan.
        """
        suspends = event.purpose == RETURN_PROCESSING
        if suspends:
            await serialise_case(conn, "reintegration", event.case_id)
        await read_models.save_consent_withdrawal(
            conn, event.case_id, event.purpose, event.withdrawn_at
        )
        if not suspends or cause is None:
            return
        withdrawal = Withdrawal("consent_withdrawn", cause.causation_id or "", event.withdrawn_at)

        async def decide(work: Work) -> None:
            case = await work.case(event.case_id)
            found = await commands_after(
                self.store, case.stream_id, CONFLICTING, withdrawal, work.conn
            )
            case.flag_withdrawal_conflicts(found, withdrawal, now())

        await self.react(conn, decide, cause)

    async def note_consent_given(self, conn: AsyncConnection, case_id: str, purpose: str) -> None:
        """Lift what a withdrawal stopped, for the purposes whose renewal reintegration
        follows: being contacted (ConsentGiven) and the return itself (intake's
        ReturnResumed, sent once every member consented again). Sharing with partners
        stays withdrawn: a referral already refused is not made behind the person's back."""
        if purpose in (read_models.CONTACT_BY_PROGRAMME, RETURN_PROCESSING):
            await read_models.lift_consent_withdrawal(conn, case_id, purpose)

    async def _return_not_suspended(self, conn: AsyncConnection, case_id: str) -> None:
        await serialise_case(conn, "reintegration", case_id)  # see note_consent_withdrawal
        if await read_models.consent_withdrawn(conn, case_id, RETURN_PROCESSING):
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_(
                        "the return is suspended: consent to the processing of the return was "
                        "withdrawn (it goes on once the person consents again)"
                    )
                )
            )

    async def decide_on_arrival(
        self, conn: AsyncConnection, event: ArrivalConfirmed, cause: Cause
    ) -> None:
        async def decide(work: Work) -> None:
            case = await work.case(event.case_id)
            if case.decided or case.stopped:
                return  # a repeated arrival, or the case was withdrawn meanwhile
            priority = await read_models.case_priority(conn, event.case_id)
            programme = self.catalogue.programme(event.programme_id)
            decision: Decision
            if programme is None:
                decision = "not_offered"
                reason = f"programme {event.programme_id} offers no reintegration assistance here"
            elif priority < programme.min_priority:
                decision = "not_offered"
                reason = (
                    f"vulnerability priority {priority} is below the programme's minimum "
                    f"{programme.min_priority}"
                )
            else:
                alloc = await work.allocation(programme.id)
                decision = alloc.admit(event.case_id, priority, event.arrived_at, programme)
                reason = (
                    "a reintegration place was available"
                    if decision == "granted"
                    else f"all {programme.places} places are taken: waiting by priority"
                )
            arrival = Arrival(
                programme_id=event.programme_id,
                office=event.office,
                destination_country=event.destination_country,
                destination_region=event.destination_region,
                arrived_at=event.arrived_at,
                languages=tuple(event.languages),
            )
            case.decide(arrival, decision, priority, reason, now())

        await self.react(conn, decide, cause)

    async def stop_case(
        self,
        conn: AsyncConnection,
        case_id: str,
        reason: StopReason,
        cause: Cause,
        withdrawal: Withdrawal | None = None,
    ) -> None:
        """Withdrawal or erasure: stop the case, free its place for the next one waiting.

        On a withdrawal, every disbursement recorded after the withdrawal's time
        (it reached reintegration inside its window) is flagged as a conflict.
        """

        async def decide(work: Work) -> None:
            case = await work.case(case_id)
            at = now()
            if withdrawal is not None:
                found = await commands_after(
                    self.store, case.stream_id, CONFLICTING, withdrawal, work.conn
                )
                case.flag_withdrawal_conflicts(found, withdrawal, at)
            if not case.stop(reason, at):
                return
            await self._release(work, case, reason, at)

        await self.react(conn, decide, cause)

    async def on_withdrawal(
        self, conn: AsyncConnection, event: CaseWithdrawn, cause: Cause
    ) -> None:
        withdrawal = Withdrawal("case_withdrawn", cause.causation_id or "", event.withdrawn_at)
        await self.stop_case(conn, event.case_id, "withdrawn", cause, withdrawal)

    async def on_reopening(self, conn: AsyncConnection, event: CaseReopened, cause: Cause) -> None:
        """Intake reopened the case: the withdrawal's stop is lifted (Reintegration.reopen),
        before the arrival or after it. A case that had a place, or waited for one, gave it
        up with the withdrawal: it is admitted again as on its arrival (a place if one is
        free, else the waitlist by priority), in the same transaction as the reopening."""

        async def decide(work: Work) -> None:
            case = await work.case(event.case_id)
            if not case.reopen(now()) or not case.wants_place:
                return
            s = case.state
            programme = self.catalogue.programme(s.programme_id or "")
            if programme is None or s.arrived_on is None:
                return
            alloc = await work.allocation(programme.id)
            arrived = datetime.combine(s.arrived_on, datetime.min.time(), tzinfo=UTC)
            case.readmit(alloc.admit(case.id, s.priority, arrived, programme), s.priority, now())

        await self.react(conn, decide, cause)

    async def on_erasure(
        self, conn: AsyncConnection, event: PersonalDataErased, cause: Cause
    ) -> None:
        await self.stop_case(conn, event.case_id, "erased", cause)
        await read_models.forget_facts(conn, event.case_id)
        await self._shred(conn, notes_subject(event.case_id))

    async def _shred(self, conn: AsyncConnection, subject: str) -> None:
        """Crypto-shredding: every copy of the notes, in every store and topic, goes unreadable.

        When the keys live in this service's own database the key is deleted in
        the consumer's transaction (atomic with the stop, and SQLite's single
        writer is not asked to wait for itself); otherwise through the key store.
        """
        keys = self.cipher.keys
        if isinstance(keys, SqlKeyStore) and keys.db is self.db:
            t = tables.subject_keys
            await conn.execute(delete(t).where(t.c.subject == subject))
        else:
            await self.cipher.erase(subject)

    async def _release(
        self, work: Work, case: Reintegration, reason: ReleaseReason, at: datetime
    ) -> None:
        programme = self.catalogue.programme(case.state.programme_id or "")
        if programme is None or case.state.decision == "not_offered":
            return
        alloc = await work.allocation(programme.id)
        granted = alloc.release(case.id, reason, at, programme)
        if granted is not None:
            nxt = await work.case(granted)
            nxt.grant_from_waitlist(f"a place freed up ({reason} case)", at)

    # ------------------------------------------------------------ commands --

    async def agree_plan(
        self,
        case_id: str,
        components: list[PlanComponentIn],
        agreed_at: datetime,
        context: CommandContext,
    ) -> CommandResult:
        # The activities describe the returnee's plans: under the case's notes key, which
        # an erasure deletes (as it does the monitoring notes').
        subject = notes_subject(case_id)
        sealed = [
            PlanComponent(
                kind=c.kind,
                activity=await self.cipher.encrypt(subject, c.activity),
                budget=c.budget,
            )
            for c in components
        ]

        async def decide(work: Work, case: Reintegration) -> None:
            await self._return_not_suspended(work.conn, case_id)
            case.agree_plan(sealed, agreed_at, self.programme(case.state.programme_id))

        return await self.execute(case_id, context, decide)

    async def disburse(
        self,
        case_id: str,
        *,
        kind: AssistanceKind,
        amount: Decimal,
        currency: str,
        method: str,
        disbursed_on: date,
        context: CommandContext,
    ) -> CommandResult:
        async def decide(work: Work, case: Reintegration) -> None:
            await self._return_not_suspended(work.conn, case_id)
            programme = self.programme(case.state.programme_id)
            case.disburse(kind, amount, currency, method, disbursed_on, programme)
            alloc = await work.allocation(programme.id)
            alloc.commit_funds(case_id, amount, programme)

        return await self.execute(case_id, context, decide)

    async def refer(
        self,
        case_id: str,
        organisation_id: str,
        service: str,
        referred_on: date,
        context: CommandContext,
    ) -> CommandResult:
        organisation = self.directory.organisation(organisation_id)
        if organisation is None:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("organisation %(organisation)s is not mapped"),
                    organisation=repr(organisation_id),
                )
            )
        if service not in organisation.services:
            raise ReintegrationRuleViolation(
                wording=worded(
                    N_("%(organisation)s does not offer %(service)s (it offers %(services)s)"),
                    organisation=organisation_id,
                    service=repr(service),
                    services=", ".join(organisation.services),
                )
            )

        async def decide(work: Work, case: Reintegration) -> None:
            s = case.state
            if await read_models.consent_withdrawn(work.conn, case_id, PARTNER_SHARING):
                raise ReintegrationRuleViolation(
                    wording=worded(
                        N_("the returnee withdrew consent to share with reintegration partners")
                    )
                )
            if s.programme_id is not None and s.programme_id not in organisation.programmes:
                raise ReintegrationRuleViolation(
                    wording=worded(
                        N_("%(organisation)s is not mapped by the programme %(programme)s"),
                        organisation=organisation_id,
                        programme=s.programme_id,
                    )
                )
            if s.destination_country is not None and s.destination_country != organisation.country:
                raise ReintegrationRuleViolation(
                    wording=worded(
                        N_(
                            "%(organisation)s works in %(country)s, the returnee in %(destination)s"
                        ),
                        organisation=organisation_id,
                        country=organisation.country,
                        destination=s.destination_country,
                    )
                )
            case.refer(organisation_id, service, referred_on)

        return await self.execute(case_id, context, decide)

    async def record_visit(
        self,
        case_id: str,
        due_month: int,
        visited_on: date,
        notes: str | None,
        context: CommandContext,
        satisfaction: int | None = None,
    ) -> CommandResult:
        encrypted = (
            await self.cipher.encrypt(notes_subject(case_id), notes) if notes is not None else None
        )

        async def decide(_work: Work, case: Reintegration) -> None:
            programme = self.programme(case.state.programme_id)
            case.record_visit(due_month, visited_on, encrypted, programme, satisfaction)

        return await self.execute(case_id, context, decide)

    async def score_survey(
        self,
        case_id: str,
        stage: Stage,
        answers: Mapping[str, float],
        scored_on: date,
        context: CommandContext,
    ) -> CommandResult:
        result = score(answers, self.catalogue.sustainability)

        async def decide(_work: Work, case: Reintegration) -> None:
            case.record_score(
                stage,
                result.economic,
                result.social,
                result.psychosocial,
                result.composite,
                result.sustainable,
                scored_on,
            )

        return await self.execute(case_id, context, decide)

    async def complete(
        self, case_id: str, completed_on: date, context: CommandContext
    ) -> CommandResult:
        async def decide(work: Work, case: Reintegration) -> None:
            case.complete(completed_on)
            at = datetime.combine(completed_on, datetime.min.time(), tzinfo=UTC)
            await self._release(work, case, "completed", at)

        return await self.execute(case_id, context, decide)

    async def resolve_conflict(
        self,
        case_id: str,
        conflict_id: str,
        resolution: Resolution,
        reason: str,
        context: CommandContext,
    ) -> CommandResult:
        """A supervisor's resolution of a withdrawal conflict (404 for one never detected
        here); the reason, free text, is encrypted like the case's notes. 200: it creates
        nothing."""
        loaded = await self.cases.load(case_id)
        if conflict_id not in loaded.conflicts.detected:
            raise NotFound(
                wording=worded(
                    N_("no withdrawal conflict %(conflict)s on case %(case)s"),
                    conflict=conflict_id,
                    case=case_id,
                )
            )
        encrypted = await self.cipher.encrypt(notes_subject(case_id), reason)
        at, resolved_by = now(), context.principal.user_id

        async def decide(_work: Work, case: Reintegration) -> None:
            case.resolve_conflict(conflict_id, resolution, encrypted, resolved_by, at)

        return await self.execute(case_id, context, decide, status=200)
