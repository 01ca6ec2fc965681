"""Commands: validated requests -> the aggregates' decisions -> events in the store (and outbox).

Caseworkers screen vulnerabilities, record best-interests determinations and
submit the due diligence checklist; supervisors suspend and reopen returns to
a destination. Each command loads the aggregate, checks If-Match against its
version, decides, and appends with optimistic concurrency (a concurrent
writer gets 409, never a lost update). Input is validated completely before
anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

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
from avrr_events import Aggregate, Cause, Repository
from avrr_events.authorization import ensure_office
from avrr_events.http import Principal, check_if_match
from avrr_events.places import check_region
from avrr_events.service import ServiceRuntime

A = TypeVar("A", bound=Aggregate)

_Trimmed = StringConstraints(strip_whitespace=True, min_length=1)
PersonId = Annotated[str, _Trimmed, StringConstraints(max_length=200)]
Region = Annotated[str, _Trimmed, StringConstraints(max_length=100, pattern=r"^[^/]+$")]
Reason = Annotated[str, _Trimmed, StringConstraints(max_length=1000)]

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


class DestinationIn(Input):
    destination_country: CountryCode
    destination_region: Region | None = Field(
        default=None,
        description="an ISO 3166-2 code (HN-AT or AT) or a name; any accents, case or spacing",
    )

    @field_validator("destination_region")
    @classmethod
    def _region_of_the_country(cls, region: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("destination_country")
        if country is not None:
            check_region(country, region)
        return region


def _meaningful(reason: str) -> str:
    if len(reason) < 5:
        raise ValueError("say why (at least 5 characters)")
    return reason


# A decision about a destination's safety is read by every office that has cases there:
# it says why (a validator on the field, so that a 422 names ``reason``).
Why = Annotated[Reason, AfterValidator(_meaningful)]


class SuspensionIn(DestinationIn):
    reason: Why


class ReopeningIn(DestinationIn):
    reason: Why


@dataclass
class Outcome:
    """What a command did: the stream, its new version, the event types written."""

    id: str
    version: int
    events: list[str]
    reasons: list[str] = field(default_factory=list)


def _may_work_on(principal: Principal, office: str) -> None:
    """Everyone acts on their offices' cases only (the API checked it on the read model
    already; this checks it on the aggregate, which the read model may lag)."""
    ensure_office(principal, office)


class EligibilityCommands:
    """Every eligibility command, each one load -> decide -> append."""

    def __init__(self, runtime: ServiceRuntime, catalogue: ProgrammeCatalogue) -> None:
        self.runtime = runtime
        self.catalogue = catalogue
        self.assessments: Repository[Assessment] = Repository(
            runtime.store, registry, Assessment, source=SOURCE
        )
        self.destinations: Repository[DestinationSafety] = Repository(
            runtime.store, registry, DestinationSafety, source=SOURCE
        )

    async def _assessment(
        self, case_id: str, principal: Principal, if_match: str | None
    ) -> Assessment:
        assessment = await self.assessments.load(case_id)
        if not assessment.exists:
            raise AssessmentNotFound(f"no assessment for case {case_id}")
        if assessment.request is not None:
            _may_work_on(principal, assessment.request.office)
        check_if_match(if_match, assessment.version)
        return assessment

    async def _save(self, repo: Repository[A], agg: A) -> Outcome:
        types = [e.event_type for e in agg.pending]
        # The case id (or the place) is the correlation id of the flow it starts.
        await repo.save(agg, Cause.new(agg.subject))
        return Outcome(agg.id, agg.version, types)

    async def screen_vulnerability(
        self, case_id: str, cmd: VulnerabilityScreeningIn, by: Principal, if_match: str | None
    ) -> Outcome:
        assessment = await self._assessment(case_id, by, if_match)
        assessment.assess_vulnerability(
            cmd.person_id, cmd.categories, by.user_id, datetime.now(UTC)
        )
        return await self._save(self.assessments, assessment)

    async def record_best_interests(
        self, case_id: str, cmd: BestInterestsIn, by: Principal, if_match: str | None
    ) -> Outcome:
        assessment = await self._assessment(case_id, by, if_match)
        assessment.record_best_interests(cmd.person_id, cmd.outcome, by.user_id, datetime.now(UTC))
        return await self._save(self.assessments, assessment)

    async def check_due_diligence(
        self, case_id: str, cmd: DueDiligenceIn, by: Principal, if_match: str | None
    ) -> Outcome:
        assessment = await self._assessment(case_id, by, if_match)
        request = assessment.request
        found: list[Suspension] = []
        if request is not None:
            found = await self._suspensions(request.destination_country, request.destination_region)
        checklist = DueDiligenceChecklist.model_validate(cmd.model_dump())
        reasons = assessment.check_due_diligence(
            checklist, self.catalogue, found, by.user_id, datetime.now(UTC)
        )
        outcome = await self._save(self.assessments, assessment)
        outcome.reasons = reasons
        return outcome

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

    async def _place(self, country: str, region: str | None) -> DestinationSafety:
        """The place's stream: the one holding its active suspension (perhaps under an older
        name, see place_streams), else its key's. Every spelling of a place lands here."""
        streams = [await self.destinations.load(key) for key in place_streams(country, region)]
        return next((s for s in streams if s.active_suspension is not None), streams[0])

    async def suspend_destination(self, cmd: SuspensionIn, by: Principal) -> Outcome:
        place = await self._place(cmd.destination_country, cmd.destination_region)
        place.suspend(
            cmd.destination_country, cmd.destination_region, cmd.reason, by.user_id, _now()
        )
        return await self._save(self.destinations, place)

    async def reopen_destination(self, cmd: ReopeningIn, by: Principal) -> Outcome:
        place = await self._place(cmd.destination_country, cmd.destination_region)
        place.reopen(by.user_id, _now(), cmd.reason)
        return await self._save(self.destinations, place)


def _now() -> datetime:
    return datetime.now(UTC)
