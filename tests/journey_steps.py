"""The return journey of one household, written once, driven against any deployment.

A :class:`Platform` is what the scenario needs from a deployment: one HTTP
client per service (the base URL of the service's own process, or
``/<service>`` on the embedded app) and a way to read the events each service
published. The steps only use the public REST APIs; between hops they poll the
next service's read model (``avrr_events.testing.eventually``, bounded) and
record how long the effect took to become visible after the command's
response, so the same code is the scenario test and the lifecycle benchmark.

The household: a Honduran mother and her son stranded in Guatemala (office
GT-GUA), returning to Honduras with the Mesoamerica programme, which
eligibility, travel and reintegration all know as ``mesoamerica-avr``.
Names are invented.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from avrr_events import Envelope
from avrr_events.testing import eventually
from avrr_reintegration.programmes import load_catalogue

SERVICES = ("intake", "eligibility", "travel", "reintegration")
OFFICE = "GT-GUA"
PROGRAMME = "mesoamerica-avr"

CASEWORKER = {"X-AVRR-User": "caseworker-1", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": OFFICE}
TRAVEL_OFFICER = {
    "X-AVRR-User": "travel-officer-1",
    "X-AVRR-Roles": "travel_officer",
    "X-AVRR-Offices": OFFICE,
}
MEDIC = {"X-AVRR-User": "doctor-1", "X-AVRR-Roles": "medical", "X-AVRR-Offices": OFFICE}
REINTEGRATION_OFFICER = {
    "X-AVRR-User": "reintegration-officer-1",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": OFFICE,
}
# The receiving office in the destination country (HN): it confirms the arrival in its
# own name, which hands the case over to it (avrr_events.offices).
RECEIVING_OFFICE = "HN-TGU"
RECEIVER = {
    "X-AVRR-User": "hn-tgu-1",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": RECEIVING_OFFICE,
}

# The survey's indicators, from reintegration's own catalogue (its programmes.yaml).
SURVEY_INDICATORS = tuple(
    name for dimension in load_catalogue().sustainability.indicators.values() for name in dimension
)

# The service -> the envelopes on its domain topic, in the order a subscriber reads them.
EventReader = Callable[[str], Awaitable[list[Envelope]]]
Check = Callable[[dict[str, Any]], bool]


def today() -> str:
    """Today as the services see it: they judge "not in the future" in UTC."""
    return datetime.now(UTC).date().isoformat()


def referral(n: int = 0) -> dict[str, Any]:
    """A mother and her 8-year-old son; ``n`` varies the birth dates (no duplicate flags)."""
    mother_born = date(1990, 1, 1) + timedelta(days=n % 3000)
    son_born = date(2017, 3, 1) + timedelta(days=n % 300)
    return {
        "source": "ngo",
        "referrer": {"name": "Equipo de Protección", "organisation": "Casa del Migrante"},
        "contact_sharing_consented": False,
        "current_location": {"country": "GT", "city": "Ciudad de Guatemala"},
        "nationality": "HN",
        "languages": ["es"],
        "household": [
            {
                "given_names": "Dania Marisol",
                "family_name": "Reyes Cruz",
                "date_of_birth": mother_born.isoformat(),
                "sex": "female",
                "relationship": "principal",
                "document_type": "passport",
                "document_number": "F123456",
            },
            {
                "given_names": "Josué",
                "family_name": "Reyes",
                "date_of_birth": son_born.isoformat(),
                "sex": "male",
                "relationship": "child",
            },
        ],
        "office": OFFICE,
    }


@dataclass
class Lag:
    """One hop: a command's response -> its effect visible in a read model."""

    hop: str
    seconds: float
    cross_service: bool


@dataclass
class Case:
    case_id: str
    mother: str
    child: str


@dataclass
class Platform:
    """Everything the scenario needs from a deployment (separate processes or embedded)."""

    clients: Mapping[str, httpx.AsyncClient]
    events: EventReader
    timeout: float = 60.0
    interval: float = 0.05
    # Poll a service's own read model (not the next service's) this often instead, and
    # record no lag for it: a load generator's polling must not become the load.
    own_interval: float | None = None
    lags: list[Lag] = field(default_factory=list)

    async def post(
        self,
        service: str,
        path: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        expect: int,
    ) -> tuple[dict[str, Any], float]:
        """POST a command; the response body and the moment the response arrived."""
        response = await self.clients[service].post(path, json=body, headers=dict(headers))
        answered = time.perf_counter()
        assert response.status_code == expect, (
            f"POST /{service}{path} {body} -> {response.status_code} {response.text}"
        )
        payload: dict[str, Any] = response.json()
        return payload, answered

    async def refused(
        self, service: str, path: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> httpx.Response:
        response = await self.clients[service].post(path, json=body, headers=dict(headers))
        assert response.status_code in (409, 422), (
            f"POST /{service}{path} {body} should be refused: {response.status_code} "
            f"{response.text}"
        )
        return response

    async def get(self, service: str, path: str, headers: Mapping[str, str]) -> httpx.Response:
        return await self.clients[service].get(path, headers=dict(headers))

    async def until(
        self,
        service: str,
        path: str,
        check: Check,
        headers: Mapping[str, str],
        *,
        hop: str,
        since: float,
        cross_service: bool = False,
    ) -> dict[str, Any]:
        """Poll ``GET /<service><path>`` until ``check`` holds; record the lag since ``since``."""
        seen: dict[str, Any] = {}

        async def visible() -> bool:
            response = await self.get(service, path, headers)
            if response.status_code != 200:
                return False
            seen.clear()
            seen.update(response.json())
            return check(seen)

        visible.__name__ = f"{hop}: GET /{service}{path}"
        coarse = not cross_service and self.own_interval is not None
        interval = self.own_interval if coarse and self.own_interval else self.interval
        await eventually(visible, timeout=self.timeout, interval=interval)
        if not coarse:
            self.lags.append(Lag(hop, time.perf_counter() - since, cross_service))
        return seen


def at_least(version: int) -> Check:
    return lambda doc: int(doc.get("version", 0)) >= version


def status(*wanted: str) -> Check:
    return lambda doc: doc.get("status") in wanted


# ------------------------------------------------------------------ intake --


async def open_case(p: Platform, n: int = 0) -> Case:
    """Referral -> consents (the mother; her son through her) -> counselling."""
    created, t = await p.post("intake", "/referrals", referral(n), CASEWORKER, expect=201)
    case_id = str(created["case_id"])
    people = {m["relationship"]: str(m["person_id"]) for m in created["household"]}
    case = Case(case_id, people["principal"], people["child"])
    await p.until(
        "intake",
        f"/cases/{case_id}",
        at_least(created["version"]),
        CASEWORKER,
        hop="intake: referral",
        since=t,
    )

    consent = {"purposes": ["return_assistance_processing"], "given_on": today(), "language": "es"}
    await p.post(
        "intake",
        f"/cases/{case_id}/consents",
        {**consent, "person_id": case.mother},
        CASEWORKER,
        expect=201,
    )
    child_consent = {
        **consent,
        "person_id": case.child,
        "given_by": "guardian",
        "representative_person_id": case.mother,
        "child_views": "Wants to see his grandmother again.",
    }
    given, t = await p.post(
        "intake", f"/cases/{case_id}/consents", child_consent, CASEWORKER, expect=201
    )
    await p.until(
        "intake",
        f"/cases/{case_id}",
        at_least(given["version"]),
        CASEWORKER,
        hop="intake: consents",
        since=t,
    )

    session = {
        "held_on": today(),
        "office": OFFICE,
        "language": "es",
        "topics": ["return process", "reintegration support"],
        "outcome": "decided_to_apply",
    }
    counselled, t = await p.post(
        "intake", f"/cases/{case_id}/counselling-sessions", session, CASEWORKER, expect=201
    )
    doc = await p.until(
        "intake",
        f"/cases/{case_id}",
        at_least(counselled["version"]),
        CASEWORKER,
        hop="intake: counselling",
        since=t,
    )
    assert doc["status"] == "open", doc
    return case


async def request_return(p: Platform, case: Case) -> dict[str, Any]:
    """ReturnRequested; eligibility decides from the event alone. The assessment."""
    body = {"destination_country": "HN", "destination_region": "Francisco Morazán"}
    requested, t = await p.post(
        "intake", f"/cases/{case.case_id}/return-request", body, CASEWORKER, expect=201
    )
    assert requested["events"] == ["avrr.intake.ReturnRequested"], requested
    assessment = await p.until(
        "eligibility",
        f"/assessments/{case.case_id}",
        status("eligible"),
        CASEWORKER,
        hop="intake -> eligibility: return requested",
        since=t,
        cross_service=True,
    )
    assert assessment["programme_id"] == PROGRAMME, assessment
    assert assessment["household_size"] == 2 and assessment["unaccompanied_children"] == 0
    return assessment


# ------------------------------------------------------------- eligibility --


async def clear(p: Platform, case: Case) -> dict[str, Any]:
    """Vulnerability screening, then the due diligence checklist clears; travel opens."""
    screening = {
        "person_id": case.mother,
        "categories": [{"category": "single_parent_family", "severity": "medium"}],
    }
    screened, t = await p.post(
        "eligibility",
        f"/assessments/{case.case_id}/vulnerability-screenings",
        screening,
        CASEWORKER,
        expect=201,
    )
    await p.until(
        "eligibility",
        f"/assessments/{case.case_id}",
        at_least(screened["version"]),
        CASEWORKER,
        hop="eligibility: vulnerability",
        since=t,
    )
    checklist = {
        "identity_verified": True,
        "nationality_verified": True,
        "voluntariness_confirmed_in_private_interview": True,
        "no_legal_impediment": True,
        "family_or_receiving_contact_reached": True,
        "destination_safe": True,
    }
    checked, t = await p.post(
        "eligibility",
        f"/assessments/{case.case_id}/due-diligence",
        checklist,
        CASEWORKER,
        expect=200,
    )
    assert checked["events"] == [
        "avrr.eligibility.DueDiligenceChecked",
        "avrr.eligibility.DueDiligenceCleared",
    ], checked
    movement = await p.until(
        "travel",
        f"/movements/{case.case_id}",
        status("preparing"),
        TRAVEL_OFFICER,
        hop="eligibility -> travel: due diligence cleared",
        since=t,
        cross_service=True,
    )
    travellers = sorted(t["person_id"] for t in movement["travellers"])
    assert travellers == sorted([case.mother, case.child]), movement
    return movement


# ------------------------------------------------------------------ travel --


async def ticket(p: Platform, case: Case) -> dict[str, Any]:
    """Documents and fitness for both travellers, then the ticket."""
    c = case.case_id
    for person, kind in ((case.mother, "passport"), (case.child, "emergency_travel_document")):
        document = {"person_id": person, "document_type": kind, "obtained_on": today()}
        await p.post("travel", f"/movements/{c}/documents", document, TRAVEL_OFFICER, expect=200)
    for person in (case.mother, case.child):
        fitness = {"person_id": person, "outcome": "fit"}
        await p.post("travel", f"/movements/{c}/fitness", fitness, MEDIC, expect=200)
    booking = {
        "mode": "land",
        "carrier": "Transportes del Sur",
        "booking_reference": f"TS-{c[-8:]}",
        "departure_date": today(),
        "route": ["Ciudad de Guatemala", "Agua Caliente", "Tegucigalpa"],
        "cost": {"amount": "96.00", "currency": "USD"},
        "escorts": [],
    }
    issued, t = await p.post(
        "travel", f"/movements/{c}/ticket", booking, TRAVEL_OFFICER, expect=200
    )
    assert issued["status"] == "ticketed", issued
    return await p.until(
        "travel",
        f"/movements/{c}",
        status("ticketed"),
        TRAVEL_OFFICER,
        hop="travel: ticket",
        since=t,
    )


async def travel_home(p: Platform, case: Case) -> dict[str, Any]:
    """Departure, arrival; reintegration decides from ArrivalConfirmed. Its case."""
    c = case.case_id
    _, t = await p.post("travel", f"/movements/{c}/departure", {}, TRAVEL_OFFICER, expect=200)
    await p.until(
        "travel",
        f"/movements/{c}",
        status("departed"),
        TRAVEL_OFFICER,
        hop="travel: departure",
        since=t,
    )
    arrival = {"confirmed_by": "receiving_office", "confirmer_id": RECEIVING_OFFICE}
    # The receiving office confirms the arrival in its own name.
    arrived, t = await p.post("travel", f"/movements/{c}/arrival", arrival, RECEIVER, expect=200)
    assert arrived["status"] == "arrived", arrived
    decided = await p.until(
        "reintegration",
        f"/cases/{c}",
        lambda d: bool(d.get("decision")),
        REINTEGRATION_OFFICER,
        hop="travel -> reintegration: arrival",
        since=t,
        cross_service=True,
    )
    assert decided["decision"] == "granted", decided
    assert decided["programme_id"] == PROGRAMME and decided["office"] == OFFICE, decided
    return decided


# ----------------------------------------------------------- reintegration --


async def reintegrate(p: Platform, case: Case) -> dict[str, Any]:
    """Plan -> disbursement -> monitoring visit -> surveys -> completed."""
    c = case.case_id
    plan = {
        "components": [
            {
                "kind": "economic",
                "activity": "micro-business: tortillería",
                "budget": {"amount": "300.00", "currency": "USD"},
            },
            {
                "kind": "social",
                "activity": "school enrolment of the son",
                "budget": {"amount": "100.00", "currency": "USD"},
            },
        ],
        "agreed_at": datetime.now(UTC).isoformat(),
    }
    _, t = await p.post(
        "reintegration", f"/cases/{c}/plan", plan, REINTEGRATION_OFFICER, expect=201
    )
    await p.until(
        "reintegration",
        f"/cases/{c}",
        lambda d: d.get("plan") is not None,
        REINTEGRATION_OFFICER,
        hop="reintegration: plan",
        since=t,
    )
    disbursement = {
        "kind": "cash",
        "amount": "250.00",
        "currency": "USD",
        "method": "mobile_money",
        "disbursed_on": today(),
    }
    _, t = await p.post(
        "reintegration",
        f"/cases/{c}/disbursements",
        disbursement,
        REINTEGRATION_OFFICER,
        expect=201,
    )
    await p.until(
        "reintegration",
        f"/cases/{c}",
        lambda d: Decimal(str(d.get("disbursed_total") or 0)) == Decimal("250"),
        REINTEGRATION_OFFICER,
        hop="reintegration: disbursement",
        since=t,
    )
    visit = {
        "due_month": 1,
        "visited_on": today(),
        "notes": "The stall opened; the son is in school.",
    }
    await p.post(
        "reintegration", f"/cases/{c}/monitoring-visits", visit, REINTEGRATION_OFFICER, expect=201
    )

    answers = dict.fromkeys(SURVEY_INDICATORS, 0.6)
    for stage in ("baseline", "end"):
        survey = {"stage": stage, "answers": answers, "scored_on": today()}
        await p.post(
            "reintegration",
            f"/cases/{c}/sustainability-scores",
            survey,
            REINTEGRATION_OFFICER,
            expect=201,
        )
    _, t = await p.post(
        "reintegration",
        f"/cases/{c}/completion",
        {"completed_on": today()},
        REINTEGRATION_OFFICER,
        expect=201,
    )
    done = await p.until(
        "reintegration",
        f"/cases/{c}",
        status("completed"),
        REINTEGRATION_OFFICER,
        hop="reintegration: completion",
        since=t,
    )
    visits = await p.get("reintegration", f"/cases/{c}/monitoring", REINTEGRATION_OFFICER)
    assert visits.status_code == 200, visits.text
    first = next(v for v in visits.json() if v["due_month"] == 1)
    assert first["visited_on"] == today(), visits.json()
    return done


async def full_journey(p: Platform, n: int = 0) -> Case:
    """The whole lifecycle of one household, referral to completed reintegration."""
    case = await open_case(p, n)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    await travel_home(p, case)
    await reintegrate(p, case)
    return case


# --------------------------------------------------------------- the topics --

JOURNEY_EVENTS = {
    "intake": ["avrr.intake.ReturnRequested"],
    "eligibility": [
        "avrr.eligibility.EligibilityDecided",
        "avrr.eligibility.VulnerabilityAssessed",
        "avrr.eligibility.DueDiligenceCleared",
    ],
    "travel": [
        "avrr.travel.MovementOpened",
        "avrr.travel.TravelDocumentObtained",
        "avrr.travel.FitForTravelConfirmed",
        "avrr.travel.TicketIssued",
        "avrr.travel.DepartureConfirmed",
        "avrr.travel.ArrivalConfirmed",
    ],
    "reintegration": [
        "avrr.reintegration.ReintegrationEligibilityDecided",
        "avrr.reintegration.ReintegrationPlanAgreed",
        "avrr.reintegration.AssistanceDisbursed",
        "avrr.reintegration.MonitoringVisitRecorded",
        "avrr.reintegration.SustainabilityScored",
        "avrr.reintegration.ReintegrationCompleted",
    ],
}


async def case_events(p: Platform, case_id: str) -> dict[str, list[str]]:
    """The types each service published about one case, in topic order."""
    out: dict[str, list[str]] = {}
    for service in SERVICES:
        out[service] = [e.type for e in await p.events(service) if e.subject == case_id]
    return out


def in_order(published: list[str], expected: list[str]) -> bool:
    """``expected`` appears in ``published`` as a subsequence (other events may interleave)."""
    remaining = iter(published)
    return all(any(t == wanted for t in remaining) for wanted in expected)


async def assert_journey_published(p: Platform, case: Case) -> None:
    """Every service published its part of the journey about the case, in order."""
    seen: dict[str, list[str]] = {}

    async def all_published() -> bool:
        seen.update(await case_events(p, case.case_id))
        return all(in_order(seen[s], JOURNEY_EVENTS[s]) for s in SERVICES)

    try:
        await eventually(all_published, timeout=p.timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"journey events of {case.case_id} incomplete: {seen}") from e
    assert seen["travel"].count("avrr.travel.TravelDocumentObtained") == 2
    assert seen["travel"].count("avrr.travel.FitForTravelConfirmed") == 2


# ------------------------------------------------- withdrawal after ticket --

# What each service publishes in reaction to the withdrawal, and then nothing more.
# Reintegration never decided anything for the case; it records ReintegrationStopped
# (internal, documented in its README) so that nothing is decided for it later.
WITHDRAWAL_REACTIONS = {
    "intake": "avrr.intake.CaseWithdrawn",
    "eligibility": "avrr.eligibility.AssessmentClosed",
    "travel": "avrr.travel.MovementCancelled",
    "reintegration": "avrr.reintegration.ReintegrationStopped",
}


async def withdraw_after_ticket(p: Platform, n: int = 1, *, settle: float = 3.0) -> Case:
    """A second household withdraws once ticketed: the booking is cancelled, nothing follows."""
    case = await open_case(p, n)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    c = case.case_id

    withdrawn, t = await p.post(
        "intake",
        f"/cases/{c}/withdrawal",
        {"reason": "changed_mind", "note": "Found work in Guatemala."},
        CASEWORKER,
        expect=200,
    )
    cancelled = await p.until(
        "travel",
        f"/movements/{c}",
        status("cancelled"),
        TRAVEL_OFFICER,
        hop="intake -> travel: withdrawal",
        since=t,
        cross_service=True,
    )
    await p.until(
        "intake",
        f"/cases/{c}",
        at_least(withdrawn["version"]),
        CASEWORKER,
        hop="intake: withdrawal",
        since=t,
    )
    await p.until(
        "eligibility",
        f"/assessments/{c}",
        status("closed"),
        CASEWORKER,
        hop="intake -> eligibility: withdrawal",
        since=t,
        cross_service=True,
    )

    # The travel desk may not go on with a cancelled movement.
    await p.refused("travel", f"/movements/{c}/departure", {}, TRAVEL_OFFICER)
    arrival = {"confirmed_by": "receiving_office", "confirmer_id": RECEIVING_OFFICE}
    await p.refused("travel", f"/movements/{c}/arrival", arrival, RECEIVER)
    again = await p.get("travel", f"/movements/{c}", TRAVEL_OFFICER)
    assert again.status_code == 200 and again.json()["status"] == "cancelled", again.text
    assert again.json()["version"] == cancelled["version"], "a refused command wrote nothing"

    # What the topics say: each service's reaction to the withdrawal, then silence.
    seen: dict[str, list[str]] = {}

    async def reactions_published() -> bool:
        seen.update(await case_events(p, c))
        return all(WITHDRAWAL_REACTIONS[s] in seen[s] for s in SERVICES)

    try:
        await eventually(reactions_published, timeout=p.timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"withdrawal reactions of {c} incomplete: {seen}") from e
    await _settle(settle)
    final = await case_events(p, c)
    assert final == seen, f"events appeared after the withdrawal's reactions: {seen} -> {final}"
    for service, reaction in WITHDRAWAL_REACTIONS.items():
        published = final[service]
        assert published.count(reaction) == 1 and published[-1] == reaction, (service, final)
    travel = final["travel"]
    assert travel[-2:] == ["avrr.travel.TicketIssued", "avrr.travel.MovementCancelled"], travel
    assert final["reintegration"] == ["avrr.reintegration.ReintegrationStopped"], final
    assert "avrr.eligibility.DueDiligenceCleared" in final["eligibility"]

    gone = await p.get("reintegration", f"/cases/{c}", REINTEGRATION_OFFICER)
    assert gone.status_code == 404, gone.text
    return case


async def _settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
