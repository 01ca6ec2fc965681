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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from avrr_events import Envelope
from avrr_events.settings import ServiceSettings
from avrr_events.testing import ServiceProcess, eventually, running
from avrr_events.web.embedded import build_app
from avrr_events.web.service import Service
from avrr_intake.demo import REFERRED_BY_NGO
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


def at_office(headers: Mapping[str, str], office: str) -> dict[str, str]:
    """The same staff member's headers as one of ``office`` (a case transferred there)."""
    return {**headers, "X-AVRR-Offices": office}


# Where each service shows a case (``{id}``: the case id), and who reads it there.
CASE_VIEWS: dict[str, tuple[str, Mapping[str, str]]] = {
    "intake": ("/cases/{id}", CASEWORKER),
    "eligibility": ("/assessments/{id}", CASEWORKER),
    "travel": ("/movements/{id}", TRAVEL_OFFICER),
    "reintegration": ("/cases/{id}", REINTEGRATION_OFFICER),
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
        **REFERRED_BY_NGO,
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


def consent(person: str, **more: Any) -> dict[str, Any]:
    """``person``'s consent to the processing a return needs, given today in Spanish."""
    purposes = ["return_assistance_processing"]
    return {
        "purposes": purposes,
        "given_on": today(),
        "language": "es",
        "person_id": person,
        **more,
    }


def counselling(**more: Any) -> dict[str, Any]:
    """A counselling session in GT-GUA today, in Spanish, after which the household applies."""
    return {
        "held_on": today(),
        "office": OFFICE,
        "language": "es",
        "outcome": "decided_to_apply",
        **more,
    }


def guardian_consent(case: Case, **more: Any) -> dict[str, Any]:
    """The son's consent, given by his mother as his guardian."""
    return consent(case.child, given_by="guardian", representative_person_id=case.mother, **more)


# The due diligence checklist with every check passed: it clears the case.
DUE_DILIGENCE_CLEARED = dict.fromkeys(
    (
        "identity_verified",
        "nationality_verified",
        "voluntariness_confirmed_in_private_interview",
        "no_legal_impediment",
        "family_or_receiving_contact_reached",
        "destination_safe",
    ),
    True,
)


def plan(*components: dict[str, Any]) -> dict[str, Any]:
    """A reintegration plan of ``components`` (see :func:`component`), agreed now."""
    return {"components": list(components), "agreed_at": datetime.now(UTC).isoformat()}


def component(kind: str, activity: str, amount: str) -> dict[str, Any]:
    """One component of a reintegration plan, with its budget in USD."""
    return {"kind": kind, "activity": activity, "budget": {"amount": amount, "currency": "USD"}}


ROUTE = ["Ciudad de Guatemala", "Agua Caliente", "Tegucigalpa"]
FARE = {"amount": "96.00", "currency": "USD"}


def booking(
    reference: str, *, route: list[str] = ROUTE, cost: dict[str, str] | None = FARE
) -> dict[str, Any]:
    """A land journey today with Transportes del Sur, meeting at its bus terminal (no fare
    with ``cost=None``)."""
    body: dict[str, Any] = {
        "mode": "land",
        "carrier": "Transportes del Sur",
        "booking_reference": reference,
        "departure_date": today(),
        "route": route,
        "escorts": [],
        # Where the household meets the staff (issue 19's travel instructions): encrypted.
        "meeting_point": "Terminal de buses, zona 4, puerta 2",
        "meeting_time": "05:30",
    }
    if cost is not None:
        body["cost"] = cost
    return body


async def ready_to_travel(
    p: Platform, movement: str, documents: Mapping[str, str], office: str = OFFICE
) -> None:
    """Each traveller's travel document (person id -> document type), then each one fit."""
    officer, medic = at_office(TRAVEL_OFFICER, office), at_office(MEDIC, office)
    for person, kind in documents.items():
        document = {"person_id": person, "document_type": kind, "obtained_on": today()}
        await p.post("travel", f"/movements/{movement}/documents", document, officer, expect=200)
    for person in documents:
        fitness = {"person_id": person, "outcome": "fit"}
        await p.post("travel", f"/movements/{movement}/fitness", fitness, medic, expect=200)


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
    # The office holding the case, whose staff the steps act as (a transfer moves it).
    office: str = OFFICE


async def no_events(_service: str) -> list[Envelope]:
    """The event reader of a platform whose test reads no topic."""
    return []


@dataclass
class Platform:
    """Everything the scenario needs from a deployment (separate processes or embedded)."""

    clients: Mapping[str, httpx.AsyncClient]
    events: EventReader = no_events
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
        sent = self.body_sent(service, path, body)
        response = await self.clients[service].post(path, json=sent, headers=dict(headers))
        answered = time.perf_counter()
        assert response.status_code == expect, (
            f"POST /{service}{path} {sent} -> {response.status_code} {response.text}"
        )
        payload: dict[str, Any] = response.json()
        return payload, answered

    def body_sent(self, service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The body :meth:`post` sends for ``body``: itself (a test's platform may put
        values of its own in it)."""
        return body

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

    async def case_shows(
        self,
        service: str,
        case_id: str,
        check: Check,
        *,
        hop: str,
        since: float,
        cross_service: bool = False,
        office: str = OFFICE,
    ) -> dict[str, Any]:
        """:meth:`until` on the service's own view of the case (``CASE_VIEWS``), read by
        staff of ``office``."""
        route, headers = CASE_VIEWS[service]
        path = route.format(id=case_id)
        return await self.until(
            service,
            path,
            check,
            at_office(headers, office),
            hop=hop,
            since=since,
            cross_service=cross_service,
        )


async def embedded_clients(
    stack: AsyncExitStack, app: Any, names: Iterable[str] = SERVICES
) -> dict[str, httpx.AsyncClient]:
    """One HTTP client per service on the embedded app (``/<service>``), closed with ``stack``."""
    transport = httpx.ASGITransport(app=app)
    return {
        name: await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url=f"http://avrr/{name}")
        )
        for name in names
    }


@asynccontextmanager
async def embedded_platform(data_dir: Path) -> AsyncIterator[Platform]:
    """The embedded default (``build_app``: one app, SQLite, the in-process bus) in
    ``data_dir``, its four services' clients, and its topics as the event reader."""
    app = build_app(data_dir)
    runtimes = app.state.runtimes
    assert set(SERVICES) <= set(runtimes), f"installed services: {sorted(runtimes)}"

    async def events(service: str) -> list[Envelope]:
        runtime = runtimes[service]
        assert runtime.bus is not None, "the embedded default runs on the in-process bus"
        messages = runtime.bus.topics.get(runtime.settings.topic(service), [])
        return [Envelope.from_message(m) for m in messages]

    async with app.router.lifespan_context(app), AsyncExitStack() as stack:
        clients = await embedded_clients(stack, app)
        yield Platform(clients, events)


async def clients_of(
    stack: AsyncExitStack,
    procs: Mapping[str, ServiceProcess],
    names: Iterable[str] = SERVICES,
    *,
    timeout: float = 30.0,
) -> dict[str, httpx.AsyncClient]:
    """One HTTP client per service, on its own process's URL, closed with ``stack``."""
    return {
        name: await stack.enter_async_context(
            httpx.AsyncClient(base_url=procs[name].url, timeout=timeout)
        )
        for name in names
    }


async def in_process(
    stack: AsyncExitStack,
    services: Mapping[str, Service],
    fresh_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    prefix: str,
) -> Platform:
    """The services in this process on real Kafka + PostgreSQL, until ``stack`` closes.

    A database each and one shared key database; topics under ``prefix``; no topic reader.
    """
    keys = await fresh_database()
    clients: dict[str, httpx.AsyncClient] = {}
    for name, service in services.items():
        settings = ServiceSettings(
            database_url=await fresh_database(),
            keystore_url=keys,
            kafka_bootstrap_servers=kafka_bootstrap,
            dev=True,
            topic_prefix=prefix,
            topic_partitions=3,
            relay_poll_interval=0.2,
        )
        _runtime, clients[name] = await stack.enter_async_context(
            running(service, settings, base_url=f"http://{name}")
        )
    return Platform(clients)


# The services named -> their platform in this process (tests/conftest.py's services_in_process).
InProcess = Callable[[Mapping[str, Service]], Awaitable[Platform]]


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
    await p.case_shows(
        "intake", case_id, at_least(created["version"]), hop="intake: referral", since=t
    )

    await p.post(
        "intake", f"/cases/{case_id}/consents", consent(case.mother), CASEWORKER, expect=201
    )
    child_consent = guardian_consent(case, child_views="Wants to see his grandmother again.")
    given, t = await p.post(
        "intake", f"/cases/{case_id}/consents", child_consent, CASEWORKER, expect=201
    )
    await p.case_shows(
        "intake", case_id, at_least(given["version"]), hop="intake: consents", since=t
    )

    session = counselling(topics=["return process", "reintegration support"])
    counselled, t = await p.post(
        "intake", f"/cases/{case_id}/counselling-sessions", session, CASEWORKER, expect=201
    )
    doc = await p.case_shows(
        "intake", case_id, at_least(counselled["version"]), hop="intake: counselling", since=t
    )
    assert doc["status"] == "open", doc
    return case


async def request_return(p: Platform, case: Case) -> dict[str, Any]:
    """ReturnRequested; eligibility decides from the event alone. The assessment."""
    body = {"destination_country": "HN", "destination_region": "Francisco Morazán"}
    caseworker = at_office(CASEWORKER, case.office)
    requested, t = await p.post(
        "intake", f"/cases/{case.case_id}/return-request", body, caseworker, expect=201
    )
    assert requested["events"] == ["avrr.intake.ReturnRequested"], requested
    assessment = await p.case_shows(
        "eligibility",
        case.case_id,
        status("eligible"),
        hop="intake -> eligibility: return requested",
        since=t,
        cross_service=True,
        office=case.office,
    )
    assert assessment["programme_id"] == PROGRAMME, assessment
    assert assessment["household_size"] == 2 and assessment["unaccompanied_children"] == 0
    return assessment


async def intake_in_phase(p: Platform, case_id: str, *phases: str) -> None:
    """Until intake's state of the case is in one of ``phases``: the phase intake judges a
    change of the household or the request on (409 naming it once it is too late)."""

    async def shown() -> bool:
        state = await p.get("intake", f"/cases/{case_id}/state", CASEWORKER)
        return state.status_code == 200 and state.json().get("phase") in phases

    await eventually(shown, timeout=60)


async def refused_too_late(
    p: Platform, case_id: str, path: str, body: dict[str, Any], *phases: str
) -> dict[str, Any]:
    """Once intake's state of the case is in one of ``phases``, the change POSTed to
    ``path`` is refused with 409: the problem, which names the phase."""
    await intake_in_phase(p, case_id, *phases)
    late = await p.refused("intake", path, body, CASEWORKER)
    assert late.status_code == 409, late.text
    problem: dict[str, Any] = late.json()
    return problem


# ------------------------------------------------------------- eligibility --


async def clear(p: Platform, case: Case) -> dict[str, Any]:
    """Vulnerability screening, then the due diligence checklist clears; travel opens."""
    caseworker = at_office(CASEWORKER, case.office)
    screening = {
        "person_id": case.mother,
        "categories": [{"category": "single_parent_family", "severity": "medium"}],
    }
    screened, t = await p.post(
        "eligibility",
        f"/assessments/{case.case_id}/vulnerability-screenings",
        screening,
        caseworker,
        expect=201,
    )
    await p.case_shows(
        "eligibility",
        case.case_id,
        at_least(screened["version"]),
        hop="eligibility: vulnerability",
        since=t,
        office=case.office,
    )
    checked, t = await p.post(
        "eligibility",
        f"/assessments/{case.case_id}/due-diligence",
        DUE_DILIGENCE_CLEARED,
        caseworker,
        expect=200,
    )
    assert checked["events"] == [
        "avrr.eligibility.DueDiligenceChecked",
        "avrr.eligibility.DueDiligenceCleared",
    ], checked
    movement = await p.case_shows(
        "travel",
        case.case_id,
        status("preparing"),
        hop="eligibility -> travel: due diligence cleared",
        since=t,
        cross_service=True,
        office=case.office,
    )
    travellers = sorted(t["person_id"] for t in movement["travellers"])
    assert travellers == sorted([case.mother, case.child]), movement
    return movement


# ------------------------------------------------------------------ travel --


async def ticket(p: Platform, case: Case) -> dict[str, Any]:
    """Documents and fitness for both travellers, then the ticket."""
    c = case.case_id
    documents = {case.mother: "passport", case.child: "emergency_travel_document"}
    await ready_to_travel(p, c, documents, case.office)
    officer = at_office(TRAVEL_OFFICER, case.office)
    issued, t = await p.post(
        "travel", f"/movements/{c}/ticket", booking(f"TS-{c[-8:]}"), officer, expect=200
    )
    assert issued["status"] == "ticketed", issued
    ticketed = status("ticketed")
    return await p.case_shows(
        "travel", c, ticketed, hop="travel: ticket", since=t, office=case.office
    )


async def travel_home(p: Platform, case: Case) -> dict[str, Any]:
    """Departure, arrival; reintegration decides from ArrivalConfirmed. Its case."""
    c = case.case_id
    officer = at_office(TRAVEL_OFFICER, case.office)
    _, t = await p.post("travel", f"/movements/{c}/departure", {}, officer, expect=200)
    departed = status("departed")
    await p.case_shows("travel", c, departed, hop="travel: departure", since=t, office=case.office)
    arrival = {"confirmed_by": "receiving_office", "confirmer_id": RECEIVING_OFFICE}
    # The receiving office confirms the arrival in its own name.
    arrived, t = await p.post("travel", f"/movements/{c}/arrival", arrival, RECEIVER, expect=200)
    assert arrived["status"] == "arrived", arrived
    decided = await p.case_shows(
        "reintegration",
        c,
        lambda d: bool(d.get("decision")),
        hop="travel -> reintegration: arrival",
        since=t,
        cross_service=True,
        office=case.office,
    )
    assert decided["decision"] == "granted", decided
    assert decided["programme_id"] == PROGRAMME and decided["office"] == case.office, decided
    return decided


# ----------------------------------------------------------- reintegration --


async def reintegrate(p: Platform, case: Case) -> dict[str, Any]:
    """Plan -> disbursement -> monitoring visit -> surveys -> completed."""
    c = case.case_id
    agreed = plan(
        component("economic", "micro-business: tortillería", "300.00"),
        component("social", "school enrolment of the son", "100.00"),
    )
    _, t = await p.post(
        "reintegration", f"/cases/{c}/plan", agreed, REINTEGRATION_OFFICER, expect=201
    )
    await p.case_shows(
        "reintegration", c, lambda d: d.get("plan") is not None, hop="reintegration: plan", since=t
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
    await p.case_shows(
        "reintegration",
        c,
        lambda d: Decimal(str(d.get("disbursed_total") or 0)) == Decimal("250"),
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
    done = await p.case_shows(
        "reintegration", c, status("completed"), hop="reintegration: completion", since=t
    )
    visits = await p.get("reintegration", f"/cases/{c}/monitoring", REINTEGRATION_OFFICER)
    assert visits.status_code == 200, visits.text
    first = next(v for v in visits.json() if v["due_month"] == 1)
    assert first["visited_on"] == today(), visits.json()
    return done


# A step of the journey: it takes a case one phase further (request_return ... reintegrate).
Step = Callable[[Platform, Case], Awaitable[object]]


async def case_through(p: Platform, *steps: Step, n: int = 0) -> Case:
    """A new household's case (``open_case(p, n)``) taken through ``steps``, in order."""
    case = await open_case(p, n)
    for step in steps:
        await step(p, case)
    return case


async def full_journey(p: Platform, n: int = 0) -> Case:
    """The whole lifecycle of one household, referral to completed reintegration."""
    return await case_through(p, request_return, clear, ticket, travel_home, reintegrate, n=n)


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
    cancelled = await p.case_shows(
        "travel",
        c,
        status("cancelled"),
        hop="intake -> travel: withdrawal",
        since=t,
        cross_service=True,
    )
    await p.case_shows(
        "intake", c, at_least(withdrawn["version"]), hop="intake: withdrawal", since=t
    )
    await p.case_shows(
        "eligibility",
        c,
        status("closed"),
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
