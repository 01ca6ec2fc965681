"""A duplicate-person check never names another office's case or person: the match is said
(``possible_duplicate_elsewhere``), and the other office's supervisors are told on their own
case. Bearer JWTs, real PostgreSQL and Kafka."""

from __future__ import annotations

from typing import Any

from intake_fixtures import Intake, answered, referral
from intake_tokens import bearer

from avrr_events.testing import eventually

GUATEMALA = bearer("cw-gt", "caseworker", "GT-GUA")
TAPACHULA = bearer("cw-mx", "caseworker", "MX-TAP")
GUATEMALA_SUPERVISOR = bearer("sup-gt", "supervisor", "GT-GUA")
TAPACHULA_SUPERVISOR = bearer("sup-mx", "supervisor", "MX-TAP")
HEADQUARTERS = bearer("hq-1", "caseworker", "*")


async def _refer(intake: Intake, office: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await intake.refer(referral(office=office), **headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    await intake.wait_for(created["case_id"], version=created["version"])
    return created


async def _alerts(intake: Intake, headers: dict[str, str]) -> dict[str, Any]:
    return answered(await intake.http.get("/duplicate-alerts", headers=headers))


async def test_a_match_in_another_office_is_said_without_its_ids_and_told_to_that_office(
    intake: Intake,
) -> None:
    first = await _refer(intake, "GT-GUA", GUATEMALA)
    first_case, first_person = first["case_id"], intake.person(first, "principal")
    first_people = {p["person_id"] for p in first["household"]}  # mother and son

    # The same mother referred again in Tapachula: told there is a match, never where.
    again = await _refer(intake, "MX-TAP", TAPACHULA)
    assert again["possible_duplicates"] == []
    assert again["possible_duplicate_elsewhere"] is True
    second_case = again["case_id"]
    for path in (f"/cases/{second_case}", f"/cases/{second_case}/timeline"):
        response = await intake.http.get(path, headers=TAPACHULA)
        assert response.status_code == 200, response.text
        assert first_case not in response.text and first_person not in response.text, path
    case = (await intake.http.get(f"/cases/{second_case}", headers=TAPACHULA)).json()
    assert case["possible_duplicates"] == [] and case["possible_duplicate_elsewhere"] is True

    # Guatemala's supervisors learn that their case's mother was referred elsewhere,
    # without Tapachula's case or person id; Tapachula's supervisors see no alert of it.
    async def told() -> bool:
        return len((await _alerts(intake, GUATEMALA_SUPERVISOR))["items"]) == 2

    await eventually(told, timeout=30)
    alerts = await _alerts(intake, GUATEMALA_SUPERVISOR)
    assert {(a["case_id"], a["office"], a["referrals_elsewhere"]) for a in alerts["items"]} == {
        (first_case, "GT-GUA", 1)
    }
    assert {a["person_id"] for a in alerts["items"]} == first_people
    assert second_case not in str(alerts)
    assert (await _alerts(intake, TAPACHULA_SUPERVISOR))["items"] == []
    forbidden = await intake.http.get(
        "/duplicate-alerts", params={"office": "GT-GUA"}, headers=TAPACHULA_SUPERVISOR
    )
    assert forbidden.status_code == 403
    caseworker = await intake.http.get("/duplicate-alerts", headers=GUATEMALA)
    assert caseworker.status_code == 403

    # Headquarters sees every office: it is shown both matches by their ids.
    third = await intake.refer(referral(office="GT-GUA"), **HEADQUARTERS)
    assert third.status_code == 201, third.text
    named = {m["matching_case_id"] for m in third.json()["possible_duplicates"]}
    assert named == {first_case, second_case}
    assert third.json()["possible_duplicate_elsewhere"] is False
