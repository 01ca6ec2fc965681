"""The case list by phase: every filter against counts made straight from a generated plan,
keyset pages in a stable order, problems naming the field, and office scoping crossed with
every role. The four services' events are published on real Kafka to intake on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from generated_cases import PROGRESS, PlannedCase, generate, plan, published
from intake_fixtures import Intake, answered, referral
from intake_tokens import bearer

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.web.authorization import ROLES, Role
from avrr_intake.api import CASE_READERS
from avrr_intake.timeline import PHASES

HEADQUARTERS = bearer("cw-hq", "caseworker", "*")
CASES = [
    *generate(36, seed=11, prefix="list"),
    plan(
        "list-hn-at", office="GT-GUA", origin="HN", phase="ticketed", destination_region="Atlántida"
    ),
    plan("list-hn-cor", office="MX-TAP", origin="HN", phase="cleared", destination_region="Cortés"),
]


def reached(case: PlannedCase) -> int:
    """How far along the case went before it ended (closed cases: referred)."""
    last = case.reached if case.phase == "withdrawn" else case.phase
    return PROGRESS.index(last) if last in PROGRESS else 0


def expected(**wanted: Any) -> set[str]:
    """The plan's case ids with every wanted fact (computed without the read models)."""
    found = set()
    for case in CASES:
        facts = {
            "phase": case.phase,
            "office": case.office,
            "programme": case.programme if reached(case) >= PROGRESS.index("eligible") else None,
            "destination_country": case.origin if reached(case) >= 2 else None,
        }
        if all(facts[k] == v for k, v in wanted.items()):
            found.add(case.case_id)
    return found


def departure(case: PlannedCase) -> str | None:
    tickets = [e.data["departure_date"] for e in case.events if e.type.endswith("TicketIssued")]
    return tickets[-1] if tickets else None


async def listed(http: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[str]:
    """Every case id the list gives, following ``next_cursor`` through pages of 7."""
    ids: list[str] = []
    cursor = None
    while True:
        query = {**params, "limit": "7"} | ({"cursor": cursor} if cursor else {})
        body = answered(await http.get("/cases", headers=headers, params=query))
        assert len(body["items"]) <= 7
        ids += [item["case_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            # ``total`` counts every match, the pages before a given cursor too.
            assert body["total"] == len(ids) or "cursor" in params, params
            return ids


async def test_every_filter_lists_exactly_the_cases_the_plan_says(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    await published(intake.runtime, kafka_settings, CASES)
    http = intake.http

    everything = await listed(http, HEADQUARTERS)
    referred_at = {c.case_id: c.events[0].data["received_at"] for c in CASES}
    assert everything == sorted(referred_at, key=lambda c: (-_epoch(referred_at[c]), c))
    for phase in PHASES:
        assert set(await listed(http, HEADQUARTERS, phase=phase)) == expected(phase=phase), phase
    for programme in ("arvore", "mesoamerica-avrr"):
        got = set(await listed(http, HEADQUARTERS, programme=programme))
        assert got == expected(programme=programme), programme
    for country in ("HN", "BR"):
        got = set(await listed(http, HEADQUARTERS, destination_country=country))
        assert got == expected(destination_country=country), country
    both = await listed(http, HEADQUARTERS, phase="ticketed", office="GT-GUA")
    assert set(both) == expected(phase="ticketed", office="GT-GUA")
    for category in ("health_needs", "victim_of_trafficking"):
        screened = {
            c.case_id for c in CASES if any(category in v for v in c.vulnerabilities.values())
        }
        assert set(await listed(http, HEADQUARTERS, vulnerability=category)) == screened

    # A region in any spelling (ISO code, name, without accents): its place key.
    for spelling in ("HN-AT", "Atlántida", " atlantida "):
        region = await listed(
            http, HEADQUARTERS, destination_country="HN", destination_region=spelling
        )
        assert region == ["list-hn-at"], spelling
    region = await listed(http, HEADQUARTERS, destination_country="HN", destination_region="cortes")
    assert region == ["list-hn-cor"]

    # Departure dates (the ticket's), a closed range.
    day = departure(CASES[-2])
    assert day is not None
    on_day = await listed(http, HEADQUARTERS, departure_from=day, departure_to=day)
    assert set(on_day) == {c.case_id for c in CASES if departure(c) == day}
    ticketed = {c.case_id for c in CASES if departure(c) is not None}
    assert set(await listed(http, HEADQUARTERS, departure_from="2000-01-01")) == ticketed

    # An item says its phase and destination, and no more personal data than before.
    body = answered(await http.get("/cases", headers=HEADQUARTERS, params={"phase": "ticketed"}))
    item = next(i for i in body["items"] if i["case_id"] == "list-hn-at")
    assert item["phase"] == "ticketed"
    assert (item["destination_country"], item["destination_region"]) == ("HN", "AT")
    assert item["departure_date"] == day


async def test_pages_are_stable_while_cases_arrive(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    await published(intake.runtime, kafka_settings, CASES)
    http = intake.http
    first = answered(await http.get("/cases", headers=HEADQUARTERS, params={"limit": 10}))
    # A new referral (the newest of all) arrives between two pages: nothing repeats or is lost.
    await intake.open_case(referral(office="GT-GUA"))
    rest = await listed(http, HEADQUARTERS, cursor=first["next_cursor"])
    ids = [i["case_id"] for i in first["items"]] + rest
    assert len(ids) == len(set(ids)) == len(CASES)
    assert set(ids) == {c.case_id for c in CASES}


async def test_bad_filters_are_problems_naming_the_field(intake: Intake) -> None:
    for params, field in (
        ({"cursor": "not-a-cursor!"}, "cursor"),
        ({"cursor": "WyJ4Il0"}, "cursor"),  # base64url of ["x"]: not a pair
        ({"cursor": "WyJub3QgYSB0aW1lIiwiYyJd"}, "cursor"),  # ["not a time","c"]
        ({"destination_region": "Atlántida"}, "destination_region"),  # no country
        ({"phase": "flying"}, "phase"),
        ({"destination_country": "XX"}, "destination_country"),
        ({"departure_from": "tomorrow"}, "departure_from"),
        ({"vulnerability": "DROP TABLE"}, "vulnerability"),
        ({"cursor": "x", "offset": "3"}, "cursor"),  # one way of paging at a time
    ):
        response = await intake.http.get("/cases", headers=HEADQUARTERS, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], params


async def test_an_office_lists_its_own_cases_and_an_unrelated_office_nothing_whatever_its_role(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    await published(intake.runtime, kafka_settings, CASES)
    http = intake.http
    tapachula = {c.case_id for c in CASES if c.office == "MX-TAP"}
    assert tapachula
    for role in ROLES:
        mine = bearer(f"{role}-mx", role, "MX-TAP")
        # Costa Rica: an office of a country no case of the plan was referred in or goes to.
        unrelated = bearer(f"{role}-cr", role, "CR-SJO")
        if Role(role) in CASE_READERS:
            assert set(await listed(http, mine)) == tapachula, role
            assert set(await listed(http, mine, phase="ticketed")) == tapachula & expected(
                phase="ticketed"
            )
            assert await listed(http, unrelated) == [], role
            assert await listed(http, unrelated, destination_country="HN") == [], role
        else:
            for headers in (mine, unrelated):
                refused = await http.get("/cases", headers=headers)
                assert refused.status_code == 403, role
        # Another office's list is not theirs to ask for, in any role.
        other = await http.get("/cases", headers=mine, params={"office": "GT-GUA"})
        assert other.status_code == 403, role


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
