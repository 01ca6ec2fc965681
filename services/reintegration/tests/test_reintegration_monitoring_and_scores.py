"""Monitoring, referrals and sustainability scores through the REST API (real infra)."""

from __future__ import annotations

from datetime import UTC, datetime

from reintegration_fixtures import ANSWERS_ALL, MANAGER, OFFICER, RunningReintegration, plan

from avrr_events.testing import eventually


async def test_monitoring_schedule_comes_from_the_arrival_date_and_overdue_visits_are_listed(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("m1")  # arrived 2026-03-15, office BR-BSB
    await r.arrive("m2", office="BR-GRU")
    response = await r.http.get("/cases/m1/monitoring?as_of=2026-07-01", headers=OFFICER)
    assert response.status_code == 200
    assert [(v["due_month"], v["due_on"], v["overdue"]) for v in response.json()] == [
        (1, "2026-04-15", True),
        (3, "2026-06-15", True),
        (6, "2026-09-15", False),
    ]

    visit = {"due_month": 1, "visited_on": "2026-04-17", "notes": "settled with her sister"}
    assert (await r.post("/cases/m1/monitoring-visits", visit)).status_code == 201
    again = await r.post("/cases/m1/monitoring-visits", visit)
    assert again.status_code == 422 and "already recorded" in again.json()["detail"]
    off_schedule = await r.post(
        "/cases/m1/monitoring-visits", {"due_month": 2, "visited_on": "2026-05-15"}
    )
    assert off_schedule.status_code == 422

    async def overdue(office: str, as_of: str) -> list[tuple[str, int]]:
        response = await r.http.get(
            f"/monitoring/overdue?office={office}&as_of={as_of}", headers=OFFICER | MANAGER_OFFICES
        )
        assert response.status_code == 200, response.text
        return [(i["case_id"], i["due_month"]) for i in response.json()["items"]]

    async def month_one_visited() -> bool:
        return await overdue("BR-BSB", "2026-07-01") == [("m1", 3)]

    await eventually(month_one_visited)
    assert await overdue("BR-BSB", "2026-04-15") == []  # due that day: not yet overdue
    assert await overdue("BR-GRU", "2026-10-01") == [("m2", 1), ("m2", 3), ("m2", 6)]
    # office scoping: an officer of BR-BSB only does not see another office's list
    forbidden = await r.http.get("/monitoring/overdue?office=BR-GRU", headers=OFFICER)
    assert forbidden.status_code == 403

    notes = (await r.http.get("/cases/m1/monitoring", headers=OFFICER)).json()[0]["notes"]
    assert notes == "settled with her sister"
    hidden = (await r.http.get("/cases/m1/monitoring", headers=MANAGER)).json()[0]["notes"]
    assert hidden is None  # personal notes are for the case-working roles only


MANAGER_OFFICES = {"X-AVRR-Offices": "BR-BSB,BR-GRU"}


async def test_sustainability_scores_at_baseline_and_end_then_completion(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("s1")
    await r.agree_plan("s1", plan(), days=45)
    await r.score("s1", "baseline", "2026-03-20")
    bad = await r.post(
        "/cases/s1/sustainability-scores",
        {"stage": "end", "answers": {"income_source": 0.5}, "scored_on": "2026-09-16"},
    )
    assert bad.status_code == 422 and "unanswered indicators" in bad.json()["detail"]
    out_of_range = await r.post(
        "/cases/s1/sustainability-scores",
        {
            "stage": "end",
            "answers": {**ANSWERS_ALL, "food_security": 1.5},
            "scored_on": "2026-09-16",
        },
    )
    assert out_of_range.status_code == 422
    await r.score("s1", "end", "2026-09-16")
    done = await r.post("/cases/s1/completion", {"completed_on": "2026-09-20"})
    assert done.status_code == 201
    await r.wait_for("s1", status="completed", plan_late=True, plan_days_after_arrival=45)

    scores = (await r.http.get("/cases/s1/sustainability", headers=OFFICER)).json()
    assert [(s["stage"], s["composite"], s["sustainable"]) for s in scores] == [
        ("baseline", 0.6, True),
        ("end", 0.6, True),
    ]
    events = await r.events(subject="s1", wanted="avrr.reintegration.ReintegrationCompleted")
    types = [e.type.rsplit(".", 1)[1] for e in events]
    assert types == [
        "ReintegrationEligibilityDecided",
        "ReintegrationPlanAgreed",
        "SustainabilityScored",
        "SustainabilityScored",
        "ReintegrationCompleted",
    ]
    late_plan = (await r.http.get("/cases/s1/plan", headers=OFFICER)).json()
    assert (late_plan["late"], late_plan["total"], late_plan["currency"]) == (True, "550.00", "USD")


async def test_referrals_go_to_organisations_mapped_in_the_returnees_country(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("f1", "arvore")  # priority 0 < ARVoRe's minimum: not offered
    await r.arrive("f2")  # test-avr, BR / MG
    found = (await r.http.get("/directory?country=BR&region=MG", headers=OFFICER)).json()
    assert [o["id"] for o in found] == ["br-mg-reintegration-ngo", "br-mg-psychosocial-centre"]

    body = {
        "organisation_id": "br-mg-psychosocial-centre",
        "service": "psychosocial",
        "referred_on": "2026-03-25",
    }
    refused = await r.post("/cases/f2/referrals", body)  # test-avr did not map it
    assert refused.status_code == 422 and "not mapped by the programme" in refused.json()["detail"]
    wrong_service = await r.post("/cases/f2/referrals", {**body, "service": "legal"})
    assert wrong_service.status_code == 422
    unknown = await r.post("/cases/f2/referrals", {**body, "organisation_id": "nobody"})
    assert unknown.status_code == 422
    not_offered = await r.post("/cases/f1/referrals", body)
    assert not_offered.status_code == 422 and "not offered" in not_offered.json()["detail"]

    await r.assess("f3", "f3-1", ("victim_of_trafficking", "medium"))
    assert (await r.arrive("f3", "arvore"))["decision"] == "granted"
    assert (await r.post("/cases/f3/referrals", body)).status_code == 201
    events = await r.events(subject="f3", wanted="avrr.reintegration.ServiceReferralMade")
    referral = next(e for e in events if e.type.endswith("ServiceReferralMade"))
    assert referral.data == {"case_id": "f3", **body}

    async def listed() -> bool:
        found = (await r.http.get("/cases/f3/referrals", headers=OFFICER)).json()
        return [x["organisation_id"] for x in found] == ["br-mg-psychosocial-centre"]

    await eventually(listed)


async def test_withdrawn_consent_to_share_with_partners_stops_referrals(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.assess("cw", "cw-1", ("health_needs", "high"))
    await r.arrive("cw", "arvore")
    withdrawn_at = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    partners = "share_with_reintegration_partners"
    await r.withdraw_consent("cw", partners, withdrawn_at, person_id="cw-1")
    await r.taken_in("cw", "avrr.intake.ConsentWithdrawn", 1)
    body = {"organisation_id": "br-mg-reintegration-ngo", "service": "economic"}
    refused = await r.post("/cases/cw/referrals", {**body, "referred_on": "2026-03-20"})
    assert refused.status_code == 422 and "withdrew consent" in refused.json()["detail"]


async def test_granted_cases_without_a_plan_past_the_deadline_are_listed(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("pl1")  # 2026-03-15: plan due by 2026-04-14
    await r.arrive("pl2")
    await r.agree_plan("pl2", plan())

    async def late_plans(as_of: str) -> list[tuple[str, str, int]]:
        response = await r.http.get(f"/plans/overdue?office=BR-BSB&as_of={as_of}", headers=OFFICER)
        assert response.status_code == 200, response.text
        return [(i["case_id"], i["plan_due_on"], i["days_late"]) for i in response.json()["items"]]

    async def pl2_planned() -> bool:
        return (await r.case("pl2") or {}).get("plan") is not None

    await eventually(pl2_planned)
    assert await late_plans("2026-04-14") == []
    assert await late_plans("2026-04-20") == [("pl1", "2026-04-14", 6)]
