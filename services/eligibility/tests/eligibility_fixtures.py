"""Builders shared by the eligibility tests (repo-unique module name)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from avrr_eligibility.assessment import Assessment, AssessmentOpened, DueDiligenceChecklist
from avrr_eligibility.intake_events import HouseholdMember
from avrr_eligibility.programmes import ProgrammeCatalogue, ReturnRequest, decide, load_programmes

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
    decision = decide(
        CATALOGUE,
        ReturnRequest(
            nationality=nationality,
            host_country=host,
            destination_country=destination or nationality,
            requested_on=TODAY,
            household_size=len(members),
        ),
    )
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
SUPERVISOR = {"X-AVRR-User": "supervisor-1", "X-AVRR-Roles": "supervisor"}


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
