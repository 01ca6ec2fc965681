"""Commands: validated requests -> the aggregates' decisions -> events in the store (and outbox).

Caseworkers screen vulnerabilities, record best-interests determinations and
submit the due diligence checklist; supervisors suspend and reopen returns to
a destination. Each command loads the aggregate, checks If-Match against its
version, decides, and appends with optimistic concurrency (a concurrent
writer gets 409, never a lost update). Input is validated completely before
anything is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from avrr_eligibility import read_models
from avrr_eligibility.assessment import (
    Assessment,
    AssessmentNotFound,
    BestInterestsOutcome,
    DueDiligenceChecklist,
    Suspension,
    VulnerabilityCategory,
)
from avrr_eligibility.countries import CountryCode
from avrr_eligibility.destination import DestinationSafety, place_streams
from avrr_eligibility.events import SOURCE, registry
from avrr_eligibility.programmes import ProgrammeCatalogue
from avrr_eligibility.reasons import NO_ASSESSMENT, worded
from avrr_events import Aggregate, Repository, transfers
from avrr_events.aggregate import Executed
from avrr_events.commands import CommandContext, CommandResult
from avrr_events.entered_places import EnteredDestination
from avrr_events.notices import N_
from avrr_events.places import COUNTRY_CODES
from avrr_events.validation import InvalidValue
from avrr_events.web.authorization import ensure_office
from avrr_events.web.service import ServiceRuntime

A = TypeVar("A", bound=Aggregate)

_Trimmed = StringConstraints(strip_whitespace=True, min_length=1)
# Stated for clients: a text of spaces only is refused (it is empty once trimmed).
_NotBlank = Field(json_schema_extra={"pattern": r"\S"})
PersonId = Annotated[str, _Trimmed, StringConstraints(max_length=200), _NotBlank]
Region = Annotated[
    str,
    _Trimmed,
    StringConstraints(max_length=100, pattern=r"^[^/]+$"),
    Field(json_schema_extra={"pattern": r"^\s*[^/\s][^/]*$"}),
]
Reason = Annotated[str, _Trimmed, StringConstraints(max_length=1000), _NotBlank]

# Roles (dev headers today, OIDC claims later).


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VulnerabilityScreeningIn(Input):
    person_id: PersonId | None = Field(
        default=None, description="the person screened; absent: the case as a whole"
    )
    categories: list[VulnerabilityCategory] = Field(
        max_length=9, description="empty: screened, no vulnerability found"
    )


class BestInterestsIn(Input):
    person_id: PersonId
    outcome: BestInterestsOutcome


class DueDiligenceIn(DueDiligenceChecklist):
    """The checklist as the caseworker submits it (every item answered explicitly)."""


class DestinationIn(Input, EnteredDestination):
    # What the supervisor decides, as a refusal names it ("403: ... suspending returns ...").
    decision: ClassVar[str]
    destination_country: CountryCode = Field(json_schema_extra={"enum": list(COUNTRY_CODES)})
    destination_region: Region | None = Field(
        default=None,
        description="an ISO 3166-2 code (HN-AT or AT) or a name; any accents, case or spacing",
    )


def _meaningful(reason: str) -> str:
    if len(reason) < 5:
        raise InvalidValue(worded(N_("say why (at least 5 characters)")))
    return reason


# A decision about a destination's safety is read by every office that has cases there:
# it says why (a validator on the field, so that a 422 names ``reason``).
Why = Annotated[
    Reason,
    AfterValidator(_meaningful),
    Field(
        description="why, in at least 5 characters besides surrounding spaces",
        json_schema_extra={"pattern": r"\S[\s\S]{3,}\S"},
    ),
]


class SuspensionIn(DestinationIn):
    decision: ClassVar[str] = "suspending returns to a destination"
    reason: Why


class ReopeningIn(DestinationIn):
    decision: ClassVar[str] = "reopening returns to a destination"
    reason: Why


def _outcome(
    executed: Executed[A], status: int = 200, reasons: list[str] | None = None
) -> CommandResult:
    """What every eligibility command answers: the stream, its new version, the event types
    written, and (due diligence) the reasons of a rejection."""
    aggregate = executed.aggregate
    body: dict[str, Any] = {
        "id": aggregate.id,
        "version": aggregate.version,
        "events": executed.events,
    }
    if reasons:
        body["reasons"] = reasons
    return CommandResult(aggregate.version, body, status)


class EligibilityCommands:
    """Every eligibility command, each one load -> decide -> append (Repository.execute)."""

    def __init__(self, runtime: ServiceRuntime, catalogue: ProgrammeCatalogue) -> None:
        self.runtime = runtime
        self.catalogue = catalogue
        self.assessments: Repository[Assessment] = Repository(
            runtime.store, registry, Assessment, source=SOURCE
        )
        self.destinations: Repository[DestinationSafety] = Repository(
            runtime.store, registry, DestinationSafety, source=SOURCE
        )

    async def _on_assessment(
        self,
        case_id: str,
        ctx: CommandContext,
        decide: Callable[[Assessment], Awaitable[object] | object],
        status: int = 201,
        reasons: list[str] | None = None,
    ) -> CommandResult:
        """One command on a case's assessment: load, check it may be worked on, decide, append.

        The assessment must exist and be of one of the caller's offices: the API
        checked that on the read model already; this checks it on the aggregate,
        which the read model may lag. The aggregate keeps the office the request
        was opened with; once intake's transfer was accepted the case is the
        receiving office's (avrr_events.transfers), and only that office works it.
        """
        async with self.runtime.db.autocommit() as conn:
            moved_to = await transfers.transferred_to(conn, read_models.case_transfers, case_id)

        def workable(assessment: Assessment) -> None:
            if not assessment.exists:
                raise AssessmentNotFound(wording=worded(NO_ASSESSMENT, case=case_id))
            if assessment.request is not None:
                ensure_office(ctx.principal, moved_to or assessment.request.office)

        executed = await self.assessments.execute(case_id, ctx, decide, guard=workable)
        return _outcome(executed, status, reasons)

    async def screen_vulnerability(
        self, case_id: str, cmd: VulnerabilityScreeningIn, ctx: CommandContext
    ) -> CommandResult:
        by = ctx.principal.user_id
        return await self._on_assessment(
            case_id,
            ctx,
            lambda a: a.assess_vulnerability(cmd.person_id, cmd.categories, by, _now()),
        )

    async def record_best_interests(
        self, case_id: str, cmd: BestInterestsIn, ctx: CommandContext
    ) -> CommandResult:
        by = ctx.principal.user_id
        return await self._on_assessment(
            case_id, ctx, lambda a: a.record_best_interests(cmd.person_id, cmd.outcome, by, _now())
        )

    async def check_due_diligence(
        self, case_id: str, cmd: DueDiligenceIn, ctx: CommandContext
    ) -> CommandResult:
        reasons: list[str] = []

        async def decide(assessment: Assessment) -> None:
            request = assessment.request
            found: list[Suspension] = []
            if request is not None:
                found = await self._suspensions(
                    request.destination_country, request.destination_region
                )
            checklist = DueDiligenceChecklist.model_validate(cmd.model_dump())
            reasons.extend(
                assessment.check_due_diligence(
                    checklist, self.catalogue, found, ctx.principal.user_id, _now()
                )
            )

        return await self._on_assessment(case_id, ctx, decide, 200, reasons)

    async def _suspensions(self, country: str, region: str | None) -> list[Suspension]:
        """Active suspensions covering a destination, read from the event store (not a projection):
        a clearance must never miss a suspension that is already committed."""
        keys = place_streams(country)
        if region:
            keys += place_streams(country, region)
        found = []
        for key in keys:
            place = await self.destinations.load(key)
            if place.active_suspension is not None:
                found.append(place.active_suspension)
        return found

    async def _place_id(self, country: str, region: str | None) -> str:
        """The place's stream: the one holding its active suspension (perhaps under an older
        name, see place_streams), else its key's. Every spelling of a place lands here."""
        keys = place_streams(country, region)
        for key in keys:
            if (await self.destinations.load(key)).active_suspension is not None:
                return key
        return keys[0]

    async def suspend_destination(self, cmd: SuspensionIn, ctx: CommandContext) -> CommandResult:
        by = ctx.principal.user_id
        place = await self._place_id(cmd.destination_country, cmd.destination_region)
        executed = await self.destinations.execute(
            place,
            ctx,
            lambda p: p.suspend(
                cmd.destination_country, cmd.destination_region, cmd.reason, by, _now()
            ),
        )
        return _outcome(executed, 201)

    async def reopen_destination(self, cmd: ReopeningIn, ctx: CommandContext) -> CommandResult:
        by = ctx.principal.user_id
        place = await self._place_id(cmd.destination_country, cmd.destination_region)
        executed = await self.destinations.execute(
            place, ctx, lambda p: p.reopen(by, _now(), cmd.reason)
        )
        return _outcome(executed)


CaseCommand = Callable[[EligibilityCommands, str, Any, CommandContext], Awaitable[CommandResult]]
"""A command on a case's assessment as EligibilityCommands declares it: (case id, input)."""
PlaceCommand = Callable[[EligibilityCommands, Any, CommandContext], Awaitable[CommandResult]]
"""A supervisor's decision about a place as EligibilityCommands declares it: (input)."""


def _now() -> datetime:
    return datetime.now(UTC)
