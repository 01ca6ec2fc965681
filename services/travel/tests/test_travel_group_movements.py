"""Group movements (issue 20): a convoy of households departs and arrives together, on real
PostgreSQL and Kafka; withdrawn and suspended households leave it by themselves."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from travel_fixtures import OFFICER, Travel, ticket

from avrr_events import Envelope
from avrr_events.commands import CommandContext, Principal
from avrr_events.store import ConcurrencyError
from avrr_travel.group_commands import GroupCommands
from avrr_travel.movement import Movement

OTHER_OFFICE = {
    "X-AVRR-User": "officer-9",
    "X-AVRR-Roles": "travel_officer,supervisor,caseworker,medical",
    "X-AVRR-Offices": "MX-MEX",
}


def plan(capacity: int = 70, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "office": "GT-GUA",
        "mode": "bus",
        "departure_date": str(date.today()),
        "route": ["Guatemala City", "Agua Caliente border", "San Pedro Sula"],
        "capacity": capacity,
        "carrier": "Transportes del Norte",
        "escorts": [
            {"staff_id": "staff-ops-1", "kind": "operational", "may_escort": []},
        ],
    }
    body.update(extra)
    return body


async def planned(travel: Travel, **extra: Any) -> str:
    r = await travel.post("/groups", plan(**extra))
    assert r.status_code == 201, r.text
    group_id: str = r.json()["group_id"]
    return group_id


async def ready_households(travel: Travel, cases: list[str], **clear: Any) -> None:
    """Cleared, documented, fit and ticketed for today (2 travellers each)."""
    envelopes = [await travel.clear(c, **clear) for c in cases]
    await travel.handled(*envelopes)
    for c in cases:
        await travel.make_ready(c, ["p-mother", "p-daughter"])
        r = await travel.post(f"/movements/{c}/ticket", ticket(days_ahead=0, mode="land"))
        assert r.status_code == 200, r.text
    for c in cases:  # seating checks the case's office on the movements' read model
        await travel.wait_for(c, status="ticketed")


async def assign(travel: Travel, group_id: str, case: str) -> Any:
    return await travel.post(f"/groups/{group_id}/households", {"case_id": case})


async def assign_as(travel: Travel, group_id: str, case: str, who: dict[str, str]) -> Any:
    return await travel.post(f"/groups/{group_id}/households", {"case_id": case}, who)


async def group(travel: Travel, group_id: str, headers: dict[str, str] = OFFICER) -> Any:
    r = await travel.http.get(f"/groups/{group_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_thirty_households_depart_together_but_the_withdrawn_and_suspended(
    travel: Travel,
) -> None:
    cases = [f"case-convoy-{n:02d}" for n in range(30)]
    suspended_case = cases[-1]
    await ready_households(travel, cases[:-1])
    await ready_households(travel, [suspended_case], destination_region="Atlántida")
    group_id = await planned(travel)
    for c in cases:
        r = await assign(travel, group_id, c)
        assert r.status_code == 200, r.text
    assert (await group(travel, group_id))["seats_taken"] == 60

    # On the day: two households withdraw their consent, one destination is suspended.
    now = datetime.now(UTC)
    news: list[Envelope] = [
        await travel.withdraw_consent(c, "return_assistance_processing", now) for c in cases[:2]
    ]
    news.append(await travel.suspend_destination("HN", "Atlántida"))
    await travel.handled(*news)

    seen = await group(travel, group_id)
    assert len(seen["households"]) == 27
    assert sorted((x["case_id"], x["cause"]) for x in seen["left"]) == [
        (cases[0], "consent_withdrawn"),
        (cases[1], "consent_withdrawn"),
        (suspended_case, "destination_suspended"),
    ]
    # An office that is not the group's sees nothing of it, whatever its roles.
    r = await travel.http.get(f"/groups/{group_id}", headers=OTHER_OFFICE)
    assert r.status_code == 403
    # Nor does it seat its own cases in it, nor another office's group take this office's.
    r = await travel.post(f"/groups/{group_id}/households", {"case_id": cases[2]}, OTHER_OFFICE)
    assert r.status_code == 403
    other = {**plan(), "office": "MX-MEX"}
    r = await travel.post("/groups", other, OTHER_OFFICE)
    assert r.status_code == 201, r.text
    r = await assign_as(travel, r.json()["group_id"], cases[3], OTHER_OFFICE)
    assert r.status_code == 403

    r = await travel.post(f"/groups/{group_id}/departure", {})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["departed"]) == cases[2:-1]
    for c in cases[2:-1]:
        await travel.wait_for(c, status="departed")
    for c in cases[:2]:
        await travel.wait_for(c, status="cancelled")
    moved = await travel.runtime.store.load(f"movement-{suspended_case}")
    assert "avrr.travel.DepartureConfirmed" not in {e.envelope.type for e in moved}

    r = await travel.post(f"/groups/{group_id}/arrival", {})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["arrived"]) == cases[2:-1]
    await travel.wait_for(cases[2], status="arrived")


async def test_two_assignments_for_the_last_seats_one_wins(travel: Travel) -> None:
    cases = ["case-seat-a", "case-seat-b", "case-seat-c"]
    await ready_households(travel, cases)
    group_id = await planned(travel, capacity=4)
    assert (await assign(travel, group_id, cases[0])).status_code == 200
    results = await asyncio.gather(*(assign(travel, group_id, c) for c in cases[1:]))
    assert sorted(r.status_code for r in results) in ([200, 409], [200, 422])
    seen = await group(travel, group_id)
    assert seen["seats_taken"] == 4 and len(seen["households"]) == 2
    # Full: a further household is refused, naming the seats.
    loser = [c for c, x in zip(cases[1:], results, strict=True) if x.status_code != 200]
    r = await assign(travel, group_id, loser[0])
    assert r.status_code == 422 and "seats" in r.json()["detail"]


async def test_escort_ratios_hold_the_group_until_met(travel: Travel) -> None:
    case = "case-escorted"
    await travel.handled(await travel.clear(case))
    await travel.make_ready(case, ["p-mother", "p-daughter"], outcome="fit_with_escort")
    r = await travel.post(f"/movements/{case}/ticket", ticket(days_ahead=0, escorts=("medical",)))
    assert r.status_code == 200, r.text
    await travel.wait_for(case, status="ticketed")
    group_id = await planned(travel)
    assert (await assign(travel, group_id, case)).status_code == 200

    r = await travel.post(f"/groups/{group_id}/departure", {})
    assert r.status_code == 422 and "health_needs" in r.json()["detail"]
    escort = {"staff_id": "staff-med-1", "kind": "medical", "may_escort": ["health_needs"]}
    assert (await travel.post(f"/groups/{group_id}/escorts", escort)).status_code == 200
    r = await travel.post(f"/groups/{group_id}/departure", {})
    assert r.status_code == 200, r.text
    assert r.json()["departed"] == [case]


async def test_a_withdrawal_between_load_and_append_stops_the_whole_departure(
    travel: Travel,
) -> None:
    """The race of this project's bug story: the withdrawal lands while the convoy departs.
    The departure fails on the movement's version (nothing of it written); retried, it
    leaves the withdrawn household out."""
    cases = ["case-race-a", "case-race-b"]
    await ready_households(travel, cases)
    group_id = await planned(travel)
    for c in cases:
        assert (await assign(travel, group_id, c)).status_code == 200

    rt = travel.runtime
    commands = GroupCommands(rt.db, rt.store)
    loads = commands.movements.load
    withdrawn = False

    async def load_then_withdraw(case_id: str, **kw: Any) -> Movement:
        nonlocal withdrawn
        movement = await loads(case_id, **kw)
        if case_id == cases[0] and not withdrawn:
            withdrawn = True  # another writer cancels it now, on its own connection
            other = await loads(case_id)
            assert other.withdraw("consent to the processing of the return withdrawn", _now())
            await commands.movements.save(other, CommandContext(_officer()).cause(case_id))
        return movement

    commands.movements.load = load_then_withdraw  # type: ignore[method-assign,assignment]
    context = CommandContext(_officer())
    try:
        await commands.depart(group_id, context)
        raise AssertionError("the departure raced the withdrawal and won")
    except ConcurrencyError:
        pass
    for c in cases:
        stored = await rt.store.load(f"movement-{c}")
        assert "avrr.travel.DepartureConfirmed" not in {e.envelope.type for e in stored}

    result = await commands.depart(group_id, context)
    assert result.body["departed"] == [cases[1]]
    assert result.body["left_behind"] == [cases[0]]


def _officer() -> Principal:
    return Principal("officer-1", frozenset({"travel_officer"}), frozenset({"GT-GUA"}))


def _now() -> datetime:
    return datetime.now(UTC)


async def test_screened_victims_of_trafficking_need_their_escort_ratio_whatever_the_fitness(
    travel: Travel,
) -> None:
    """Three households whose mother eligibility screened as a victim of trafficking, all
    "fit": one operational escort able to escort them per two (escorts.ESCORT_RULES)."""
    cases = [f"case-vot-{n}" for n in range(3)]
    screenings = [
        await travel.publish(
            "eligibility",
            "avrr.eligibility.VulnerabilityAssessed",
            c,
            {
                "case_id": c,
                "person_id": "p-mother",
                "categories": [{"category": "victim_of_trafficking", "severity": "high"}],
                "best_interests_determination_done": False,
                "assessed_by": "caseworker-1",
                "assessed_at": datetime.now(UTC).isoformat(),
            },
        )
        for c in cases
    ]
    await travel.handled(*screenings)
    envelopes = [await travel.clear(c) for c in cases]
    await travel.handled(*envelopes)
    for c in cases:
        await travel.make_ready(c, ["p-mother", "p-daughter"], outcome="fit")
        booked = ticket(days_ahead=0, escorts=("operational",))
        assert (await travel.post(f"/movements/{c}/ticket", booked)).status_code == 200
        await travel.wait_for(c, status="ticketed")
    group_id = await planned(travel)  # its one escort may escort no need
    for c in cases:
        assert (await assign(travel, group_id, c)).status_code == 200

    for n in (1, 2):
        r = await travel.post(f"/groups/{group_id}/departure", {})
        assert r.status_code == 422, r.text
        assert "victim_of_trafficking: 3 people need 2 operational" in r.json()["detail"]
        escort = {
            "staff_id": f"staff-vot-{n}",
            "kind": "operational",
            "may_escort": ["victim_of_trafficking"],
        }
        assert (await travel.post(f"/groups/{group_id}/escorts", escort)).status_code == 200
    r = await travel.post(f"/groups/{group_id}/departure", {})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["departed"]) == cases
