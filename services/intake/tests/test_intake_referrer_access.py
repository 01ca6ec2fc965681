"""Referrers (partner organisations): they submit referrals and read the status of their own
referrals only, with no personal data and nothing about other cases."""

from __future__ import annotations

from intake_fixtures import PRINCIPAL_NAME, Intake, referral

CASA = {
    "X-AVRR-User": "casa-del-migrante-1",
    "X-AVRR-Roles": "referrer",
    "X-AVRR-Offices": "GT-GUA",
}
OTHER_NGO = {"X-AVRR-User": "otra-ong-1", "X-AVRR-Roles": "referrer", "X-AVRR-Offices": "GT-GUA"}


async def test_a_referrer_submits_a_referral_and_follows_only_its_status(intake: Intake) -> None:
    http = intake.http
    submitted = await http.post("/referrals", json=referral(), headers=CASA)
    assert submitted.status_code == 201, submitted.text
    case_id = submitted.json()["case_id"]
    await intake.wait_for(case_id, version=1)

    status = await http.get(f"/referrals/{case_id}", headers=CASA)
    assert status.status_code == 200
    body = status.json()
    assert set(body) == {"case_id", "status", "referred_at"}
    assert body["status"] == "open"
    assert PRINCIPAL_NAME.split()[0] not in status.text

    # The case moves on: the referrer sees the new status, still nothing else.
    withdrawn = await http.post(f"/cases/{case_id}/withdrawal", json={"reason": "changed_mind"})
    assert withdrawn.status_code == 200, withdrawn.text
    await intake.wait_for(case_id, version=withdrawn.json()["version"])
    assert (await http.get(f"/referrals/{case_id}", headers=CASA)).json()["status"] == "withdrawn"

    # Another partner's referral is indistinguishable from one that does not exist.
    theirs = await http.get(f"/referrals/{case_id}", headers=OTHER_NGO)
    missing = await http.get("/referrals/no-such-case", headers=OTHER_NGO)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    assert theirs.json()["detail"].replace(case_id, "?") == missing.json()["detail"].replace(
        "no-such-case", "?"
    )

    # The case file, its consents and the case list are for staff.
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/consents", "/cases"):
        assert (await http.get(path, headers=CASA)).status_code == 403, path
    counselling = await http.post(f"/cases/{case_id}/counselling-sessions", json={}, headers=CASA)
    assert counselling.status_code == 403
    # ... and the referral status route is for referrers.
    assert (await http.get(f"/referrals/{case_id}")).status_code == 403


async def test_a_referrer_learns_no_other_case_from_a_duplicate_match(intake: Intake) -> None:
    first = await intake.open_case()  # staff referral of the same household
    again = await intake.http.post("/referrals", json=referral(), headers=CASA)
    assert again.status_code == 201, again.text
    assert again.json()["possible_duplicates"] == []
    assert first["case_id"] not in again.text
    # Staff see the match on the case.
    case = await intake.wait_for(again.json()["case_id"], version=2)
    assert case["possible_duplicates"][0]["matching_case_id"] == first["case_id"]


async def test_a_referrer_refers_only_to_its_offices(intake: Intake) -> None:
    response = await intake.http.post("/referrals", json=referral(office="MX-TAP"), headers=CASA)
    assert response.status_code == 403
    assert await intake.event_types() == []
