"""Builders shared by the eligibility tests (repo-unique module name)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Self

import httpx

from avrr_eligibility.assessment import Assessment, AssessmentOpened, DueDiligenceChecklist
from avrr_eligibility.observed import HouseholdMember
from avrr_eligibility.programmes import ProgrammeCatalogue, ReturnRequest, decide, load_programmes
from avrr_events import Envelope, dataschema_uri
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.bus import Message, Publisher
from avrr_events.consumer import dead_letter_topic
from avrr_events.testing import eventually, read_topic
from avrr_events.web.service import ServiceRuntime

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 22)

CATALOGUE: ProgrammeCatalogue = load_programmes()


def adult(person_id: str = "p1", **changes: Any) -> HouseholdMember:
    return HouseholdMember(
        person_id=person_id,
        age_years=changes.pop("age_years", 34),
        sex=changes.pop("sex", "female"),
        relationship=changes.pop("relationship", "principal"),
        **changes,
    )


def unaccompanied_child(person_id: str = "c1", age: int = 15) -> HouseholdMember:
    return HouseholdMember(
        person_id=person_id,
        age_years=age,
        sex="male",
        relationship="principal",
        unaccompanied_minor=True,
    )


def request(
    nationality: str, host: str, destination: str | None = None, **kw: Any
) -> ReturnRequest:
    return ReturnRequest(
        nationality=nationality,
        host_country=host,
        destination_country=destination or nationality,
        requested_on=TODAY,
        **kw,
    )


def opened_assessment(
    case_id: str = "case-1",
    *,
    nationality: str = "HN",
    host: str = "MX",
    destination: str | None = None,
    region: str | None = None,
    household: list[HouseholdMember] | None = None,
    office: str = "MX-TAP",
) -> Assessment:
    """An assessment opened and decided as the ReturnRequested reaction does it."""
    members = household or [adult()]
    opened = AssessmentOpened(
        case_id=case_id,
        office=office,
        nationality=nationality,
        host_country=host,
        destination_country=destination or nationality,
        destination_region=region,
        household=members,
        requested_at=NOW,
        opened_at=NOW,
    )
    decision = decide(CATALOGUE, opened.return_request)
    assessment = Assessment(case_id)
    assessment.open(opened, decision, CATALOGUE.version)
    return assessment


def full_checklist(**changes: bool | None) -> DueDiligenceChecklist:
    values: dict[str, bool | None] = {
        "identity_verified": True,
        "nationality_verified": True,
        "voluntariness_confirmed_in_private_interview": True,
        "no_legal_impediment": True,
        "family_or_receiving_contact_reached": None,
        "destination_safe": True,
        **changes,
    }
    return DueDiligenceChecklist.model_validate(values)


# ------------------------------------------------------------ integration --

CASEWORKER = {
    "X-AVRR-User": "caseworker-1",
    "X-AVRR-Roles": "caseworker",
    "X-AVRR-Offices": "MX-TAP,PT-LIS,PA-PTY,GT-GUA",
}
# A headquarters supervisor: the office claim * (every office).
SUPERVISOR = {"X-AVRR-User": "supervisor-1", "X-AVRR-Roles": "supervisor", "X-AVRR-Offices": "*"}


def household_json(*members: HouseholdMember) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in (members or (adult(),))]


def return_requested(
    case_id: str,
    *,
    nationality: str = "HN",
    host: str = "MX",
    destination: str | None = None,
    region: str | None = None,
    office: str = "MX-TAP",
    household: list[dict[str, Any]] | None = None,
    requested_at: datetime = NOW,
    **extra: Any,
) -> dict[str, Any]:
    """The payload intake publishes (docs/events.md), with a field eligibility ignores."""
    return {
        "case_id": case_id,
        "office": office,
        "nationality": nationality,
        "host_country": host,
        "destination_country": destination or nationality,
        "destination_region": region,
        "programme_hint": None,
        "household": household or household_json(),
        "requested_at": requested_at.isoformat(),
        "requested_by": "intake-caseworker",  # tolerant reader: unknown fields are ignored
        **extra,
    }


def checklist_json(**changes: bool | None) -> dict[str, Any]:
    return full_checklist(**changes).model_dump()


@dataclass
class Eligibility:
    """The running service, a caseworker's client on its app, and intake's side of Kafka."""

    runtime: ServiceRuntime
    http: httpx.AsyncClient
    kafka: KafkaSettings
    intake: Publisher

    @classmethod
    def on_bus(cls, runtime: ServiceRuntime, http: httpx.AsyncClient, bus: InProcessBus) -> Self:
        """The same on the embedded default: intake's side is the in-process bus, no Kafka."""
        http.headers.update(CASEWORKER)
        return cls(runtime, http, KafkaSettings("unused:9092"), bus.publisher())

    @property
    def intake_topic(self) -> str:
        return self.runtime.settings.topic("intake")

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.runtime.group)

    async def from_intake(
        self, event_type: str, data: dict[str, Any], *, version: int = 1, subject: str = ""
    ) -> Envelope:
        """Publish one intake event as intake's relay would (CloudEvents on intake's topic)."""
        envelope = Envelope(
            source="/avrr/intake",
            type=f"avrr.intake.{event_type}",
            subject=subject or data.get("case_id") or "unknown",
            dataschema=dataschema_uri(f"avrr.intake.{event_type}", version),
            dataversion=version,
            correlationid=data.get("case_id") or "unknown",
            data=data,
        )
        await self.intake.publish([envelope.to_message(self.intake_topic)])
        return envelope

    async def assessment(self, case_id: str, **conditions: Any) -> dict[str, Any]:
        """Wait until the assessment's read model exists (and matches ``conditions``)."""
        found: dict[str, Any] = {}

        async def ready() -> bool:
            response = await self.http.get(f"/assessments/{case_id}")
            if response.status_code != 200:
                return False
            found.update(response.json())
            return all(found.get(k) == v for k, v in conditions.items())

        await eventually(ready, timeout=30)
        return found

    async def published(self, count: int, *, timeout: float = 30.0) -> list[Envelope]:
        """The first ``count`` events on eligibility's own topic."""
        messages = await read_topic(self.kafka, self.runtime.topic, count, timeout=timeout)
        return [Envelope.from_message(m) for m in messages]

    async def dead_letters(self, count: int) -> list[Message]:
        return await read_topic(self.kafka, self.dead_letter_topic, count)
