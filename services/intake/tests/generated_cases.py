"""Generated case histories for the timeline and report tests, published as the services would.

``generate`` plans N cases (a seeded random household, a phase each reaches,
vulnerabilities, disbursements) and renders every case's events as CloudEvents
on the topic of the service that owns them. ``expected_*`` count the plan
directly, without the projection's fold, so that the report numbers are
checked against an independent computation.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from intake_fixtures import publish

from avrr_events import Envelope, Message, dataschema_uri, tables
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.store import envelope_row
from avrr_events.testing import eventually
from avrr_events.web.service import ServiceRuntime
from avrr_intake import reports
from avrr_intake.timeline import PHASES

# The phases a case goes through in order (the timeline's names), up to the last one.
PROGRESS = PHASES[: PHASES.index("completed") + 1]
ENDS = ("withdrawn", "closed")
RETURNED = ("arrived", "reintegrating", "completed")
OFFICES = ("GT-GUA", "MX-TAP", "PT-LIS")
HOSTS = {"GT-GUA": "GT", "MX-TAP": "MX", "PT-LIS": "PT"}
ORIGINS = ("HN", "SV", "BR", "VE", "CO", "NI")
PROGRAMMES = ("mesoamerica-avrr", "arvore")
CATEGORIES = ("victim_of_trafficking", "health_needs", "elderly", "single_parent_family")
# Reports hold no personal data: an auditor reads them (and no case); at headquarters
# (every office, no cell suppressed: test_intake_report_scoping.py covers an office's view).
MANAGER = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor", "X-AVRR-Offices": "*"}
ENCRYPTED = {"alg": "A256GCM", "subject": "x", "nonce": "AAAAAAAAAAAAAAAA", "ct": "AAAA"}


@dataclass
class Person:
    person_id: str
    sex: str
    age_years: int
    relationship: str


@dataclass
class PlannedCase:
    case_id: str
    office: str
    host_country: str
    origin: str
    programme: str
    household: list[Person]
    phase: str
    # the furthest progress before a withdrawal (withdrawn cases only)
    reached: str = "referred"
    arrived_at: datetime | None = None
    # screened person id (or "household") -> categories
    vulnerabilities: dict[str, list[str]] = field(default_factory=dict)
    disbursements: list[tuple[str, str, Decimal]] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)
    # the region of the return request, as a person would type it (None: the whole country)
    destination_region: str | None = None

    @property
    def returned(self) -> bool:
        return self.phase in RETURNED


def envelope(service: str, name: str, case_id: str, at: datetime, data: dict[str, Any]) -> Envelope:
    event_type = f"avrr.{service}.{name}"
    return Envelope(
        source=f"/avrr/{service}",
        type=event_type,
        subject=case_id,
        time=at,
        dataschema=dataschema_uri(event_type, 1),
        dataversion=1,
        correlationid=case_id,
        data=data,
    )


def _member(p: Person) -> dict[str, Any]:
    """The shared HouseholdMember shape: the person's facts; no generated case has a lone child."""
    return asdict(p) | {"unaccompanied_minor": False}


def generate(n: int, *, seed: int = 7, prefix: str = "gen") -> list[PlannedCase]:
    rnd = random.Random(seed)
    cases = []
    for i in range(n):
        case_id = f"{prefix}-{i:04d}"
        office = rnd.choice(OFFICES)
        size = rnd.choice((1, 1, 2, 3, 4))
        principal = Person(
            f"{case_id}-p0", rnd.choice(("female", "male")), rnd.randint(18, 75), "principal"
        )
        household = [principal]
        for k in range(1, size):
            household.append(
                Person(
                    f"{case_id}-p{k}",
                    rnd.choice(("female", "male", "other")),
                    rnd.randint(0, 70),
                    rnd.choice(("child", "spouse", "parent")),
                )
            )
        phase = rnd.choice(PROGRESS + ENDS)
        case = PlannedCase(
            case_id,
            office,
            HOSTS[office],
            rnd.choice(ORIGINS),
            rnd.choice(PROGRAMMES),
            household,
            phase,
        )
        if phase == "withdrawn":
            case.reached = rnd.choice(PROGRESS[:6])
        _render(case, rnd)
        cases.append(case)
    return cases


def plan(
    case_id: str,
    *,
    office: str,
    origin: str,
    phase: str,
    size: int = 2,
    programme: str = "mesoamerica-avrr",
    destination_region: str | None = None,
    reached: str = "referred",
) -> PlannedCase:
    """One case planned as asked: a principal and ``size - 1`` children, no screening (a test
    adds the screenings it wants to ``events``), reaching ``phase`` (a withdrawn one after
    ``reached``)."""
    household = [Person(f"{case_id}-p0", "female", 34, "principal")]
    household += [Person(f"{case_id}-p{k}", "male", 6 + k, "child") for k in range(1, size)]
    case = PlannedCase(case_id, office, HOSTS[office], origin, programme, household, phase)
    case.destination_region, case.reached = destination_region, reached
    _render(case, random.Random(case_id))
    case.events = [e for e in case.events if e.type != "avrr.eligibility.VulnerabilityAssessed"]
    case.vulnerabilities = {}
    return case


def _render(case: PlannedCase, rnd: random.Random) -> None:
    """The case's events in the order the services would write them."""
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rnd.randint(0, 300), hours=9)
    cid = case.case_id
    last = case.reached if case.phase == "withdrawn" else case.phase
    target = PROGRESS.index(last) if last in PROGRESS else 0

    def emit(service: str, name: str, data: dict[str, Any], days: float = 1) -> None:
        nonlocal at
        at += timedelta(days=days)
        case.events.append(envelope(service, name, cid, at, {"case_id": cid, **data}))

    members = [_member(p) for p in case.household]
    emit(
        "intake",
        "ReferralReceived",
        {
            "source": "ngo",
            "contact_sharing_consented": False,
            "office": case.office,
            "host_country": case.host_country,
            "nationality": case.origin,
            "household": [
                {**m, "personal": {**ENCRYPTED, "subject": m["person_id"]}} for m in members
            ],
            "received_by": "caseworker-1",
            "received_at": at.isoformat(),
        },
        days=0,
    )
    if case.phase == "closed":
        emit("intake", "CounsellingRecorded", _counselling(at, "decided_not_to_apply"))
        closure = {"reason": "decided_not_to_apply", "closed_at": at.isoformat()}
        emit("intake", "CaseClosed", closure)
        return
    if target >= 1:
        emit("intake", "CounsellingRecorded", _counselling(at, "decided_to_apply"))
    if target >= 2:
        for p in case.household:
            emit(
                "intake",
                "ConsentGiven",
                {
                    "person_id": p.person_id,
                    "purpose": "return_assistance_processing",
                    "given_on": at.date().isoformat(),
                    "given_by": "self" if p.age_years >= 18 else "guardian",
                    "representative_person_id": None
                    if p.age_years >= 18
                    else case.household[0].person_id,
                    "language": "es",
                    "recorded_by": "caseworker-1",
                    "recorded_at": at.isoformat(),
                },
                days=0,
            )
        emit(
            "intake",
            "ReturnRequested",
            {
                "office": case.office,
                "nationality": case.origin,
                "host_country": case.host_country,
                "destination_country": case.origin,
                "household": members,
                "requested_at": at.isoformat(),
            }
            | ({"destination_region": case.destination_region} if case.destination_region else {}),
        )
    if target >= 3:
        emit(
            "eligibility",
            "EligibilityDecided",
            {
                "programme_id": case.programme,
                "eligible": True,
                "reasons": [{"rule": "nationality", "passed": True, "detail": "ok"}],
                "decided_at": at.isoformat(),
            },
            days=0.01,
        )
        if rnd.random() < 0.5:
            screened = rnd.choice([*(p.person_id for p in case.household), None])
            cats = sorted(set(rnd.sample(CATEGORIES, rnd.randint(1, 2))))
            case.vulnerabilities[screened or "household"] = cats
            emit(
                "eligibility",
                "VulnerabilityAssessed",
                {
                    "person_id": screened,
                    "categories": [{"category": c, "severity": "medium"} for c in cats],
                    "best_interests_determination_done": False,
                    "assessed_by": "caseworker-2",
                    "assessed_at": at.isoformat(),
                },
            )
    if target >= 4:
        emit(
            "eligibility",
            "DueDiligenceCleared",
            {
                "programme_id": case.programme,
                "office": case.office,
                "host_country": case.host_country,
                "destination_country": case.origin,
                "transport_mode": "air",
                "household": members,
                "cleared_at": at.isoformat(),
            },
        )
        emit(
            "travel",
            "MovementOpened",
            {
                "programme_id": case.programme,
                "destination_country": case.origin,
                "transport_mode": "air",
                "travellers": members,
                "opened_at": at.isoformat(),
            },
            days=0.01,
        )
    if target >= 5:
        emit(
            "travel",
            "TicketIssued",
            {
                "mode": "air",
                "carrier": "Avianca",
                "booking_reference": "ABC123",
                "departure_date": (at + timedelta(days=7)).date().isoformat(),
                "route": ["GUA", "SAL"],
                "escorts": [],
                "issued_at": at.isoformat(),
            },
        )
    if case.phase == "withdrawn":
        emit(
            "intake",
            "CaseWithdrawn",
            {"reason": "changed_mind", "withdrawn_at": at.isoformat(), "withdrawn_by": "cw-1"},
        )
        if target >= 4:
            emit(
                "travel",
                "MovementCancelled",
                {"reason": "case withdrawn", "cancelled_at": at.isoformat()},
                days=0.01,
            )
        return
    if target >= 6:
        emit("travel", "DepartureConfirmed", {"departed_at": at.isoformat()}, days=7)
    if target >= 7:
        emit(
            "travel",
            "ArrivalConfirmed",
            {
                "programme_id": case.programme,
                "office": case.office,
                "destination_country": case.origin,
                "arrived_at": (at + timedelta(hours=6)).isoformat(),
                "confirmed_by": "receiving_office",
                "confirmer_id": "receiver-1",
            },
            days=0.25,
        )
        case.arrived_at = at
    if target >= 8:
        emit(
            "reintegration",
            "ReintegrationPlanAgreed",
            {
                "components": [
                    {
                        "kind": "economic",
                        "activity": "small shop",
                        "budget": {"amount": "900.00", "currency": "USD"},
                    }
                ],
                "agreed_at": at.isoformat(),
            },
            days=10,
        )
        for _ in range(rnd.randint(1, 3)):
            kind = rnd.choice(("cash", "in_kind"))
            currency = rnd.choice(("USD", "EUR"))
            amount = Decimal(rnd.randint(1000, 60000)) / 100
            case.disbursements.append((kind, currency, amount))
            emit(
                "reintegration",
                "AssistanceDisbursed",
                {
                    "programme_id": case.programme,
                    "kind": kind,
                    "amount": f"{amount:.2f}",
                    "currency": currency,
                    "method": "bank_transfer",
                    "disbursed_on": at.date().isoformat(),
                },
                days=3,
            )
    if target >= 9:
        emit(
            "reintegration",
            "ReintegrationCompleted",
            {"completed_on": (at + timedelta(days=200)).date().isoformat()},
            days=200,
        )


def _counselling(at: datetime, outcome: str) -> dict[str, Any]:
    return {
        "session_id": "s-1",
        "held_on": at.date().isoformat(),
        "office": "GT-GUA",
        "counsellor": "counsellor-1",
        "language": "es",
        "topics": [],
        "outcome": outcome,
        "recorded_at": at.isoformat(),
    }


async def store_intake_events(runtime: ServiceRuntime, cases: list[PlannedCase]) -> None:
    """Put the plan's intake events in intake's event store, as intake itself wrote them.

    The consumer takes in an event of its own topic only if its store holds it
    (a restored database must not show what its store lost); the plan's intake
    events are published like every other, so the store must hold them. Rows
    go straight into the events table, not through the outbox: the test
    publishes them itself, in the plan's order.
    """
    rows, versions = [], dict[str, int]()
    for case in cases:
        for e in case.events:
            if e.source.rsplit("/", 1)[-1] != "intake":
                continue
            stream = f"case-{e.subject}"
            versions[stream] = versions.get(stream, 0) + 1
            rows.append({**envelope_row(e), "stream_id": stream, "version": versions[stream]})
    async with runtime.db.transaction() as conn:
        await conn.execute(tables.events.insert(), rows)


async def published(runtime: ServiceRuntime, kafka: KafkaSettings, cases: list[PlannedCase]) -> int:
    """The plan's events stored (intake's) and published on Kafka as the four services would,
    then taken in by the running intake; how many records that was."""
    await store_intake_events(runtime, cases)
    records = messages(cases, runtime.settings.topic)
    await publish(kafka, records)
    return await _taken_in(runtime, records)


async def published_in_process(
    runtime: ServiceRuntime, bus: InProcessBus, cases: list[PlannedCase]
) -> int:
    """``published`` on the embedded default: the events on the in-process bus, then taken
    in by the running intake; how many records that was."""
    await store_intake_events(runtime, cases)
    records = messages(cases, runtime.settings.topic)
    await bus.publisher().publish(records)
    return await _taken_in(runtime, records)


async def _taken_in(runtime: ServiceRuntime, records: list[Message]) -> int:
    async def applied() -> bool:
        return runtime.consumer.stats.applied >= len(records)

    await eventually(applied, timeout=120)
    return len(records)


def messages(cases: list[PlannedCase], topic: Any) -> list[Message]:
    """Every event as a record on its service's topic (``topic(service)`` names it)."""
    out = []
    for case in cases:
        for e in case.events:
            out.append(e.to_message(topic(e.source.rsplit("/", 1)[-1])))
    return out


# ------------------------------------------------------- independent counts --


def age_group(age: int) -> str:
    return "0-17" if age < 18 else "18-59" if age < 60 else "60+"


def expected_returns(cases: list[PlannedCase]) -> dict[str, dict[str, tuple[int, int]]]:
    """dimension -> value -> (cases, returnees), counted straight from the plan."""
    out: dict[str, dict[str, tuple[int, int]]] = {}

    def add(dimension: str, value: str, n_cases: int, people: int) -> None:
        c, p = out.setdefault(dimension, {}).get(value, (0, 0))
        out[dimension][value] = (c + n_cases, p + people)

    for case in cases:
        if not case.returned:
            continue
        assert case.arrived_at is not None
        size = len(case.household)
        add("host_country", case.host_country, 1, size)
        add("origin_country", case.origin, 1, size)
        add("programme", case.programme, 1, size)
        add("month", case.arrived_at.strftime("%Y-%m"), 1, size)
        for key, values in (
            ("sex", Counter(p.sex for p in case.household)),
            ("age_group", Counter(age_group(p.age_years) for p in case.household)),
        ):
            for value, people in values.items():
                add(key, value, 1, people)
        categories = {c for cats in case.vulnerabilities.values() for c in cats}
        for category in categories or {"none"}:
            add("vulnerability", category, 1, size)
    return out


def expected_phases(cases: list[PlannedCase]) -> Counter[str]:
    return Counter(case.phase for case in cases)


def expected_assistance(cases: list[PlannedCase]) -> dict[tuple[str, str, str], Decimal]:
    totals: dict[tuple[str, str, str], Decimal] = {}
    for case in cases:
        for kind, currency, amount in case.disbursements:
            key = (case.programme, kind, currency)
            totals[key] = totals.get(key, Decimal(0)) + amount
    return totals


async def report(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> Any:
    """A report as headquarters' auditor reads it (``params``: its period, its format)."""
    response = await http.get(path, headers=MANAGER, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def reports_match_the_plan(
    http: httpx.AsyncClient, cases: list[PlannedCase], params: dict[str, str]
) -> None:
    """Every report number asked with ``params`` equals the count made from the plan of
    ``cases`` (the cases those parameters select): returns by every dimension and in total,
    phases, assistance by item and in total, withdrawals."""
    body = await report(http, "/reports/returns", params)
    expected = expected_returns(cases)
    for dimension in reports.DIMENSIONS:
        got = {r["value"]: (r["cases"], r["returnees"]) for r in body["returns"][dimension]}
        assert got == expected.get(dimension, {}), (params, dimension)
    returned = [c for c in cases if c.returned]
    assert body["total"] == {
        "cases": len(returned),
        "returnees": sum(len(c.household) for c in returned),
    }, params
    phases = await report(http, "/reports/phases", params)
    counted = expected_phases(cases)
    assert {p["phase"]: p["cases"] for p in phases["phases"]} == {
        p: counted.get(p, 0) for p in PHASES
    }, params
    assert phases["total"] == len(cases), params
    money = await report(http, "/reports/assistance", params)
    assert {
        (i["programme_id"], i["kind"], i["currency"]): Decimal(i["total"]) for i in money["items"]
    } == expected_assistance(cases), params
    for currency, kinds in money["totals"].items():
        for kind, total in kinds.items():
            assert Decimal(total) == sum(
                (a for c in cases for k, cur, a in c.disbursements if (k, cur) == (kind, currency)),
                Decimal(0),
            ), (params, currency, kind)
    withdrawn = await report(http, "/reports/withdrawals", params)
    assert withdrawn["total"]["cases"] == sum(1 for c in cases if c.phase == "withdrawn"), params
