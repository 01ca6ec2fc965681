"""The receiving mission's incoming list: the offices of the destination country see the
ticketed movements coming to it, with the needs flagged for reintegration only of the people
who consented to share them; every role of an office of an unrelated country sees nothing.
Travel's, eligibility's and intake's events on real Kafka, intake on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from generated_cases import PlannedCase, envelope, plan, published
from intake_fixtures import Intake, answered
from intake_tokens import bearer

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.web.authorization import ROLES, Role
from avrr_intake.api import INCOMING_READERS

SHARING = "share_with_reintegration_partners"


def screened(case: PlannedCase, person: str | None, *categories: str) -> None:
    """Eligibility's screening of one traveller (None: the household), after the ticket."""
    at = case.events[-1].time + timedelta(hours=1)
    data = {
        "case_id": case.case_id,
        "person_id": person,
        "categories": [{"category": c, "severity": "high"} for c in categories],
        "best_interests_determination_done": False,
        "assessed_by": "caseworker-2",
        "assessed_at": at.isoformat(),
    }
    case.events.append(envelope("eligibility", "VulnerabilityAssessed", case.case_id, at, data))


def consented(case: PlannedCase, person: str, *, withdrawn: bool = False) -> None:
    """The person's consent to share with reintegration partners (and its withdrawal)."""
    at = case.events[-1].time + timedelta(hours=1)
    base = {"case_id": case.case_id, "person_id": person, "purpose": SHARING}
    if withdrawn:
        data = {**base, "withdrawn_at": at.isoformat(), "recorded_by": "cw-1"}
        case.events.append(envelope("intake", "ConsentWithdrawn", case.case_id, at, data))
        return
    data = {
        **base,
        "given_on": at.date().isoformat(),
        "given_by": "self",
        "language": "es",
        "recorded_by": "cw-1",
        "recorded_at": at.isoformat(),
    }
    case.events.append(envelope("intake", "ConsentGiven", case.case_id, at, data))


def cases() -> dict[str, PlannedCase]:
    hn = plan("in-hn", office="GT-GUA", origin="HN", phase="ticketed", destination_region="HN-AT")
    screened(hn, "in-hn-p0", "victim_of_trafficking")
    screened(hn, "in-hn-p1", "health_needs")
    screened(hn, None, "single_parent_family")
    consented(hn, "in-hn-p0")  # the mother shares, her son's needs stay with the host office
    every = plan("in-all", office="MX-TAP", origin="HN", phase="departed", size=1)
    screened(every, None, "elderly")
    consented(every, "in-all-p0")
    taken_back = plan("in-back", office="GT-GUA", origin="HN", phase="ticketed", size=1)
    screened(taken_back, "in-back-p0", "health_needs")
    consented(taken_back, "in-back-p0")
    consented(taken_back, "in-back-p0", withdrawn=True)
    return {
        c.case_id: c
        for c in (
            hn,
            every,
            taken_back,
            plan("in-sv", office="GT-GUA", origin="SV", phase="ticketed"),  # to El Salvador
            plan("in-not-yet", office="GT-GUA", origin="HN", phase="cleared"),  # no ticket
            plan("in-off", office="GT-GUA", origin="HN", phase="withdrawn", reached="ticketed"),
            plan("in-home", office="GT-GUA", origin="HN", phase="arrived"),  # arrived already
        )
    }


CASES = cases()
TO_HONDURAS = ["in-hn", "in-back", "in-all"]  # by departure date, then case id


async def incoming(http: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[Any]:
    """Every item of the incoming list, following ``next_cursor`` one item at a time."""
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, "limit": "1"} | ({"cursor": cursor} if cursor else {})
        body = answered(await http.get("/incoming", headers=headers, params=query))
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_the_destination_countrys_offices_see_what_comes_and_only_consented_needs(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    await published(intake.runtime, kafka_settings, list(CASES.values()))
    officer = bearer("ro-tgu", "reintegration_officer", "HN-TGU")
    http = intake.http

    items = await incoming(http, officer)
    departures = {c: _departure(CASES[c]) for c in TO_HONDURAS}
    assert [i["case_id"] for i in items] == sorted(TO_HONDURAS, key=lambda c: (departures[c], c))
    by_id = {i["case_id"]: i for i in items}
    mother = by_id["in-hn"]
    assert mother == {
        "case_id": "in-hn",
        "sending_office": "GT-GUA",
        "programme_id": "mesoamerica-avrr",
        "destination_country": "HN",
        "destination_region": "AT",
        "movement_status": "ticketed",
        "expected_arrival_date": departures["in-hn"],
        "departed_at": None,
        "household_size": 2,
        "needs_shared": "some",
        # Her son's health needs and the household's screening need everyone's consent.
        "needs": [{"person_id": "in-hn-p0", "categories": ["victim_of_trafficking"]}],
    }
    assert by_id["in-all"]["needs"] == [{"person_id": "household", "categories": ["elderly"]}]
    assert by_id["in-all"]["needs_shared"] == "all"
    assert by_id["in-all"]["departed_at"] is not None
    # A withdrawn consent shares nothing any more, and reads like no need at all.
    assert (by_id["in-back"]["needs"], by_id["in-back"]["needs_shared"]) == ([], "none")
    text = str(items)
    for word in ("given_names", "family_name", "date_of_birth", "principal_name"):
        assert word not in text

    # The other office in Honduras too; El Salvador's only its own; headquarters all four.
    assert [
        i["case_id"] for i in await incoming(http, bearer("cw-sps", "caseworker", "HN-SPS"))
    ] == [i["case_id"] for i in items]
    salvador = await incoming(http, bearer("sup-sal", "supervisor", "SV-SAL"))
    assert [i["case_id"] for i in salvador] == ["in-sv"]
    everywhere = await incoming(http, bearer("sup-hq", "supervisor", "*"))
    assert {i["case_id"] for i in everywhere} == {*TO_HONDURAS, "in-sv"}
    region = await incoming(http, officer, destination_region="atlántida")
    assert [i["case_id"] for i in region] == ["in-hn"]
    day = departures["in-hn"]
    dated = await incoming(http, officer, departure_from=day, departure_to=day)
    assert "in-hn" in [i["case_id"] for i in dated]


async def test_no_role_of_an_unrelated_office_sees_an_incoming_movement(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    await published(intake.runtime, kafka_settings, list(CASES.values()))
    http = intake.http
    for role in ROLES:
        # Tapachula (Mexico) sent one of the households, Guatemala City most: neither
        # receives in Honduras, so neither sees them coming; nor does Lisbon, or a token
        # without any office.
        for offices in (("MX-TAP",), ("GT-GUA",), ("PT-LIS",), ()):
            headers = bearer(f"{role}-x", role, *offices)
            if Role(role) in INCOMING_READERS:
                assert await incoming(http, headers) == [], (role, offices)
                refused = await http.get("/incoming", headers=headers, params={"office": "HN-TGU"})
                assert refused.status_code == 403, (role, offices)
            else:
                refused = await http.get("/incoming", headers=headers)
                assert refused.status_code == 403, (role, offices)
                assert refused.headers["content-type"] == "application/problem+json"
        # The offices of Honduras in any role the list is not for: nothing either.
        receiving = bearer(f"{role}-hn", role, "HN-TGU")
        got = await http.get("/incoming", headers=receiving)
        assert got.status_code == (200 if Role(role) in INCOMING_READERS else 403), role


async def test_bad_incoming_filters_are_problems_naming_the_field(intake: Intake) -> None:
    officer = bearer("ro-tgu", "reintegration_officer", "HN-TGU")
    for params, field in (
        ({"cursor": "%%%"}, "cursor"),
        ({"departure_from": "soon"}, "departure_from"),
        ({"limit": "0"}, "limit"),
    ):
        response = await intake.http.get("/incoming", headers=officer, params=params)
        assert response.status_code == 422, (params, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field], params


def _departure(case: PlannedCase) -> str:
    return str(
        next(e.data["departure_date"] for e in case.events if e.type.endswith("TicketIssued"))
    )
