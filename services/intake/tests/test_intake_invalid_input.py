"""Invalid input gets a 422 problem naming the field, and leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from intake_fixtures import Intake, referral
from sqlalchemy import func, select

from avrr_events import tables


def _with_person(**changes: Any) -> dict[str, Any]:
    body = referral()
    body["household"][0].update(changes)
    return body


def _without(field: str) -> dict[str, Any]:
    body = referral()
    del body[field]
    return body


INVALID = {
    "missing nationality": (_without("nationality"), "nationality"),
    "unknown country code": (referral(nationality="XX"), "nationality"),
    "lower-case country code": (
        referral(current_location={"country": "gt", "city": "X"}),
        "current_location.country",
    ),
    "birth in the future": (_with_person(date_of_birth="2999-01-01"), "household.0.date_of_birth"),
    "oversized name": (_with_person(family_name="x" * 201), "household.0.family_name"),
    "unknown language": (referral(languages=["es", "klingon"]), "languages.1"),
    "unknown field": (referral(favourite_colour="blue"), "favourite_colour"),
    "no principal": (
        referral(household=[_with_person(relationship="child")["household"][0]]),
        "body",
    ),
    "empty household": (referral(household=[]), "household"),
}


async def _counts(intake: Intake) -> tuple[int, int]:
    async with intake.runtime.db.engine.connect() as conn:
        events = await conn.scalar(select(func.count()).select_from(tables.events))
        keys = await conn.scalar(select(func.count()).select_from(tables.subject_keys))
    return int(events or 0), int(keys or 0)


async def test_invalid_referrals_are_422_problems_and_write_nothing(intake: Intake) -> None:
    for label, (body, field) in INVALID.items():
        response = await intake.refer(body)
        assert response.status_code == 422, (label, response.text)
        assert response.headers["content-type"] == "application/problem+json", label
        problem = response.json()
        assert problem["status"] == 422 and problem["type"].endswith("validation"), label
        fields = [e["field"] for e in problem["errors"]]
        assert any(f == field or f.startswith(field) for f in fields), (label, fields)
        assert "Quispe" not in response.text, "errors never echo submitted personal data"
    assert await _counts(intake) == (0, 0), "no event and no key was written"


@pytest.mark.parametrize("path", ["/cases/nope/withdrawal", "/cases/nope/return-request"])
async def test_commands_on_unknown_cases_are_404_problems(intake: Intake, path: str) -> None:
    body = (
        {"reason": "changed_mind"} if path.endswith("withdrawal") else {"destination_country": "BO"}
    )
    response = await intake.http.post(path, json=body)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
