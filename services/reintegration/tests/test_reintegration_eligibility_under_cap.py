"""Eligibility under a programme's limits, end to end on real Kafka and PostgreSQL.

ArrivalConfirmed (travel) and VulnerabilityAssessed (eligibility) arrive on
their topics; decisions come out as ReintegrationEligibilityDecided on
reintegration's topic and in the read models.
"""

from __future__ import annotations

from datetime import timedelta

from reintegration_fixtures import ARRIVED, OFFICER, RunningReintegration

DECIDED = "avrr.reintegration.ReintegrationEligibilityDecided"
ARRIVAL = "avrr.travel.ArrivalConfirmed"


async def test_under_a_cap_the_n_plus_first_by_priority_waits_and_gets_a_freed_place(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    # test-avr has 2 places. Priorities: b 9 (trafficking, high), c 2, d 6 (child, medium).
    await r.assess("b", "b-1", ("victim_of_trafficking", "high"))
    await r.assess("c", "c-1", ("elderly", "low"))
    await r.assess("d", "d-1", ("unaccompanied_or_separated_child", "medium"))

    a = await r.arrive("a", arrived_at=ARRIVED)
    b = await r.arrive("b", arrived_at=ARRIVED + timedelta(hours=1))
    c = await r.arrive("c", arrived_at=ARRIVED + timedelta(hours=2))
    d = await r.arrive("d", arrived_at=ARRIVED + timedelta(hours=3))
    assert [(x["decision"], x["priority"]) for x in (a, b, c, d)] == [
        ("granted", 0),
        ("granted", 9),
        ("waitlisted", 2),
        ("waitlisted", 6),
    ]
    # The waitlist is ordered by priority, not by arrival.
    response = await r.http.get("/programmes/test-avr/waitlist", headers=OFFICER)
    assert [w["case_id"] for w in response.json()] == ["d", "c"]

    # a completes: its place goes to d (priority 6), although c arrived earlier.
    await r.complete("a")
    await r.wait_for("d", decision="granted", status="granted")
    assert (await r.case("c") or {})["status"] == "waitlisted"

    # b withdraws: its place goes to c.
    await r.withdraw_case("b", ARRIVED)
    await r.wait_for("b", status="withdrawn")
    await r.wait_for("c", decision="granted")

    decided = [e for e in await r.events(wanted=DECIDED, count=6) if e.type == DECIDED]
    # Kafka keeps each case's events in order (keyed by case id).
    assert [e.data["decision"] for e in decided if e.subject == "d"] == ["waitlisted", "granted"]
    assert [e.data["decision"] for e in decided if e.subject == "c"] == ["waitlisted", "granted"]
    for e in decided:  # the contract's fields
        assert {"case_id", "programme_id", "decision", "priority", "reason", "decided_at"} <= set(
            e.data
        )

    await r.totals_reach(granted=4, waitlisted=0, completed=1, withdrawn=1)


async def test_a_programme_reserved_for_vulnerable_returnees_does_not_offer_it_to_others(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.assess("v", "v-1", ("health_needs", "medium"))
    # arvore: min_priority 1 ("for a limited number, according to their vulnerability")
    vulnerable = await r.arrive("v", "arvore")
    other = await r.arrive("o", "arvore")
    unknown = await r.arrive("u", "no-such-programme")
    assert (vulnerable["decision"], vulnerable["priority"]) == ("granted", 4)
    assert other["decision"] == "not_offered" and "below the programme's minimum" in other["reason"]
    assert unknown["decision"] == "not_offered"


async def test_a_repeated_arrival_decides_nothing_new(reintegration: RunningReintegration) -> None:
    r = reintegration
    await r.arrive("x")
    await r.arrive("x", wait=False)  # a second ArrivalConfirmed (another event id)
    await r.taken_in("x", ARRIVAL, 2)
    assert await r.stream_version("x") == 1


async def test_an_assessment_after_the_arrival_reorders_the_waitlist_or_reconsiders(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    # Topics are ordered per case, not across services: the assessment may come late.
    await r.arrive("g1")
    await r.arrive("g2")
    await r.arrive("late-1", arrived_at=ARRIVED + timedelta(hours=1))
    await r.arrive("late-2", arrived_at=ARRIVED + timedelta(hours=2))
    await r.assess("late-2", "late-2-p", ("person_with_disability", "high"))
    await r.wait_for("late-2", decision="waitlisted", priority=6)
    waitlist = (await r.http.get("/programmes/test-avr/waitlist", headers=OFFICER)).json()
    assert [w["case_id"] for w in waitlist] == ["late-2", "late-1"]
    await r.complete("g1")
    await r.wait_for("late-2", decision="granted")

    # ARVoRe did not offer it for lack of vulnerability; a later assessment reconsiders.
    assert (await r.arrive("pt-1", "arvore"))["decision"] == "not_offered"
    await r.assess("pt-1", "pt-1-p", ("single_parent_family", "medium"))
    granted = await r.wait_for("pt-1", decision="granted")
    assert granted["priority"] == 4
    visits = (await r.http.get("/cases/pt-1/monitoring", headers=OFFICER)).json()
    assert [v["due_month"] for v in visits] == [1, 3, 6]
