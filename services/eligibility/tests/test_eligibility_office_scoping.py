"""An assessment belongs to its case's office: users of other offices neither read it nor
decide on it (403, nothing written); a headquarters account (office ``*``) reads every office's."""

from __future__ import annotations

from eligibility_fixtures import SUPERVISOR, Eligibility, return_requested

TAPACHULA = {"X-AVRR-User": "cw-mx", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "MX-TAP"}
NO_OFFICE = {"X-AVRR-User": "sup-2", "X-AVRR-Roles": "supervisor", "X-AVRR-Offices": ""}


async def test_another_offices_assessment_is_neither_read_nor_decided(
    eligibility: Eligibility,
) -> None:
    await eligibility.from_intake(
        "ReturnRequested", return_requested("s-gt", office="GT-GUA", host="GT")
    )
    before = await eligibility.assessment("s-gt")
    http = eligibility.http
    for who in (TAPACHULA, NO_OFFICE):
        for path in ("/assessments/s-gt", "/assessments/s-gt/decision"):
            response = await http.get(path, headers=who)
            assert response.status_code == 403, (who, path)
            assert response.headers["content-type"] == "application/problem+json"
        screening = await http.post(
            "/assessments/s-gt/vulnerability-screenings",
            json={"categories": [{"category": "elderly", "severity": "low"}]},
            headers=who,
        )
        assert screening.status_code == 403
    after = await http.get("/assessments/s-gt", headers=SUPERVISOR)
    assert after.status_code == 200
    assert after.json()["version"] == before["version"]  # nothing was written
    assert (await http.get("/assessments/s-gt")).status_code == 200  # its own office's caseworker
