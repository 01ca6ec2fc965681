"""Builders of travel's test data: households, clearances, bookings (no infrastructure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from avrr_events import Envelope
from avrr_events.harness import RunningService
from avrr_travel.movement import Booking, Cost, Escort, EscortKind, Movement
from avrr_travel.observed import DueDiligenceCleared, HouseholdMember

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


def member(
    person_id: str, age: int, relationship: str = "principal", **extra: Any
) -> HouseholdMember:
    return HouseholdMember.model_validate(
        {
            "person_id": person_id,
            "age_years": age,
            "sex": "female",
            "relationship": relationship,
            **extra,
        }
    )


def family() -> list[HouseholdMember]:
    """A mother and her daughter."""
    return [member("p-mother", 34), member("p-daughter", 7, "child")]


def cleared_payload(
    case_id: str = "case-1", household: list[HouseholdMember] | None = None, **extra: Any
) -> dict[str, Any]:
    """A DueDiligenceCleared as eligibility publishes it (every field of docs/events.md)."""
    return {
        "case_id": case_id,
        "programme_id": "avr-mesoamerica",
        "office": "GT-GUA",
        "host_country": "GT",
        "destination_country": "HN",
        "destination_region": "Cortes",
        "transport_mode": "land",
        "household": [m.model_dump() for m in (household or family())],
        "cleared_at": NOW.isoformat(),
        **extra,
    }


def cleared(
    case_id: str = "case-1", household: list[HouseholdMember] | None = None, **extra: Any
) -> DueDiligenceCleared:
    return DueDiligenceCleared.model_validate(cleared_payload(case_id, household, **extra))


def booking(
    departure: date | None = None, escorts: tuple[EscortKind, ...] = (), **extra: Any
) -> Booking:
    values: dict[str, Any] = {
        "mode": "land",
        "carrier": "Transportes del Norte",
        "booking_reference": "TDN-4471",
        "departure_date": departure or TODAY + timedelta(days=5),
        "route": ["Guatemala City", "Agua Caliente border", "San Pedro Sula"],
        "cost": Cost(amount=Decimal("85.00"), currency="USD"),
        "escorts": [Escort(kind=k) for k in escorts],
        **extra,
    }
    return Booking(**values)


def opened(case_id: str = "case-1", household: list[HouseholdMember] | None = None) -> Movement:
    movement = Movement(case_id)
    assert movement.open(cleared(case_id, household), NOW)
    return movement


def ready(movement: Movement, outcome: str = "fit") -> Movement:
    """Give every traveller a passport and the fitness ``outcome``."""
    for pid in movement.travellers:
        movement.obtain_document(pid, "passport", TODAY)
        movement.confirm_fitness(pid, outcome, None, None, NOW)  # type: ignore[arg-type]
    return movement


# ------------------------------------------------------ the running service --

OFFICER = {"X-AVRR-User": "officer-1", "X-AVRR-Roles": "travel_officer", "X-AVRR-Offices": "GT-GUA"}
MEDIC = {"X-AVRR-User": "doctor-1", "X-AVRR-Roles": "medical", "X-AVRR-Offices": "GT-GUA"}
CASEWORKER = {
    "X-AVRR-User": "caseworker-1",
    "X-AVRR-Roles": "caseworker",
    "X-AVRR-Offices": "GT-GUA",
}
# The receiving office in the country of origin: its reintegration officer confirms arrivals.
RECEIVING_OFFICE = {
    "X-AVRR-User": "hn-sps-1",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": "HN-SPS",
}
# A partner organisation's confirmation is recorded by the movement's travel officer.
PARTNER = OFFICER


class Travel(RunningService):
    """The running travel service, an HTTP client on its app, and a fake upstream publisher."""

    stream_type = "movement"
    view_path = "/movements/{}"
    viewer = CASEWORKER
    actor = OFFICER

    async def clear(
        self, case_id: str, household: list[HouseholdMember] | None = None, **extra: Any
    ) -> Envelope:
        """Eligibility clears the case (DueDiligenceCleared on its topic)."""
        data = cleared_payload(case_id, household, **extra)
        return await self.publish(
            "eligibility", "avrr.eligibility.DueDiligenceCleared", case_id, data
        )

    async def suspend_destination(
        self, country: str, region: str | None = None, reason: str = "hurricane: airport closed"
    ) -> Envelope:
        """Eligibility suspends returns to a country, or to one region of it."""
        return await self._destination("Suspended", country, region, {"reason": reason})

    async def reopen_destination(self, country: str, region: str | None = None) -> Envelope:
        """Eligibility lifts a suspension of a country, or of one region of it."""
        return await self._destination("Reopened", country, region, {})

    async def _destination(
        self, what: str, country: str, region: str | None, data: dict[str, Any]
    ) -> Envelope:
        verb = what.lower()
        return await self.publish(
            "eligibility",
            f"avrr.eligibility.Destination{what}",
            f"destination:{country}" + (f"/{region}" if region else ""),
            {
                "destination_country": country,
                "destination_region": region,
                **data,
                f"{verb}_by": "eligibility-officer-1",
                f"{verb}_at": datetime.now(UTC).isoformat(),
            },
        )

    async def movement(self, case_id: str) -> dict[str, Any] | None:
        """The movement's read model (None while there is none)."""
        return await self.view(case_id)

    async def opened(
        self, case_id: str, household: list[HouseholdMember] | None = None
    ) -> dict[str, Any]:
        await self.clear(case_id, household)
        return await self.wait_for(case_id, status="preparing")

    async def consent_to_medical_data(self, case_id: str, *people: str) -> None:
        """Intake's ConsentGiven to medical data processing for ``people``, taken in by travel
        (health details are recorded only after it)."""
        envelopes = [
            await self.publish(
                "intake",
                "avrr.intake.ConsentGiven",
                case_id,
                {
                    "case_id": case_id,
                    "person_id": pid,
                    "purpose": "medical_data_processing",
                    "given_on": str(date.today()),
                    "given_by": "self",
                    "language": "es",
                    "recorded_by": "caseworker-1",
                    "recorded_at": datetime.now(UTC).isoformat(),
                },
            )
            for pid in people
        ]
        await self.handled(*envelopes)

    async def make_ready(self, case_id: str, people: list[str], outcome: str = "fit") -> None:
        """A passport and a fitness outcome for every traveller, through the API."""
        for pid in people:
            r = await self.post(
                f"/movements/{case_id}/documents",
                {"person_id": pid, "document_type": "passport", "obtained_on": str(date.today())},
            )
            assert r.status_code == 200, r.text
            r = await self.post(
                f"/movements/{case_id}/fitness", {"person_id": pid, "outcome": outcome}, MEDIC
            )
            assert r.status_code == 200, r.text


def ticket(days_ahead: int = 3, escorts: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mode": "air",
        "carrier": "Avianca",
        "booking_reference": "AV-7Q2K9",
        "departure_date": str(date.today() + timedelta(days=days_ahead)),
        "route": ["GUA", "SAL", "SAP"],
        "cost": {"amount": "312.40", "currency": "USD"},
        "escorts": [{"kind": k} for k in escorts],
    }
    body.update(extra)
    return body
