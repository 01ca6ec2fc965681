"""A return request names a region of its destination country, in any spelling."""

from __future__ import annotations

from intake_fixtures import Intake


async def test_a_region_code_of_another_country_is_refused_naming_the_field(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    response = await intake.http.post(
        f"/cases/{created['case_id']}/return-request",
        json={"destination_country": "HN", "destination_region": "SV-UN"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "destination_region" in response.text
    assert "region of SV, not of HN" in response.text
