"""Issue 15: every free-text field and every list of every request has a maximum.

Walks the request bodies of the four OpenAPI documents (``request_fields``):
a string must carry ``maxLength`` unless its values are coded (an enum, a
const, a format such as a date, or a pattern that bounds its length by
itself); an array must carry ``maxItems``; a map must carry ``maxProperties``
and no value of any shape (``additionalProperties: true``). A field added
later without a limit fails here. Then one over-long value and one over-long
list per service are sent to the real apps: 422 problem+json naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from request_fields import SERVICES, request_fields

from avrr_events.web.authorization import ALL_OFFICES, ROLES
from avrr_events.web.http import PROBLEM_JSON, install_problem_handlers

# Every role, every office: the request must reach validation, not stop at 401/403.
DEV = {
    "X-AVRR-User": "hq-1",
    "X-AVRR-Roles": ",".join(str(role) for role in ROLES),
    "X-AVRR-Offices": ALL_OFFICES,
}


async def no_case_offices(request: Request, case_id: str) -> None:
    """An unknown case: no office to check (the real lookup needs the service's database)."""
    return None


def test_every_request_string_list_and_map_has_a_maximum() -> None:
    fields = request_fields()
    assert {f.service for f in fields} == set(SERVICES), "a service without request bodies?"
    unbounded = []
    for f in fields:
        s = f.schema
        if f.is_string and not f.is_coded and not f.is_decimal_text and "maxLength" not in s:
            unbounded.append(f"{f.service} {f.operation}: string {f.name} has no maxLength")
        if s.get("type") == "array" and "maxItems" not in s:
            unbounded.append(f"{f.service} {f.operation}: list {f.name} has no maxItems")
        if s.get("type") == "object" and s.get("additionalProperties") is True:
            unbounded.append(f"{f.service} {f.operation}: {f.name} takes values of any shape")
        if isinstance(s.get("additionalProperties"), dict) and "maxProperties" not in s:
            unbounded.append(f"{f.service} {f.operation}: map {f.name} has no maxProperties")
    assert unbounded == [], "\n".join(unbounded)


@pytest.fixture
async def apps() -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Each service's routes behind the platform's problem handlers: a body is validated
    before any handler or database is reached, so no runtime needs to run."""
    clients: dict[str, httpx.AsyncClient] = {}
    for name, service in SERVICES.items():
        app = FastAPI()
        assert service.policy is not None
        app.state.policy = dataclasses.replace(service.policy, case_offices=no_case_offices)
        app.state.dev_auth = True
        install_problem_handlers(app)
        app.include_router(service.router)
        transport = httpx.ASGITransport(app=app)
        clients[name] = httpx.AsyncClient(transport=transport, base_url="http://test")
    yield clients
    for client in clients.values():
        await client.aclose()


# One over-long text and one over-long list per service, each on a real route.
OVERSIZED = [
    ("intake", "/referrals", {"declared_needs": ["x"] * 21}, "declared_needs"),
    ("intake", "/cases/c-1/withdrawal", {"reason": "other", "note": "x" * 2001}, "note"),
    (
        "eligibility",
        "/destinations/suspensions",
        {"destination_country": "HN" * 3},
        "destination_country",
    ),
    ("travel", "/movements/c-1/no-show", {"reason": "x" * 1001}, "reason"),
    (
        "travel",
        "/movements/c-1/fitness",
        {"person_id": "p", "outcome": "fit", "health_details": "x" * 4001},
        "health_details",
    ),
    ("reintegration", "/cases/c-1/plan", {"components": [{"kind": "economic"}] * 31}, "components"),
]


@pytest.mark.parametrize(("service", "path", "body", "field"), OVERSIZED)
async def test_an_oversized_field_gets_422_problem_naming_it(
    apps: dict[str, httpx.AsyncClient], service: str, path: str, body: dict[str, object], field: str
) -> None:
    response = await apps[service].post(path, json=body, headers=DEV)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert field in response.text, response.text
