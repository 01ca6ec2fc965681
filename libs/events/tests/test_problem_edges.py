"""Errors the REST fuzzer found, each answered as a problem once for every service.

- a value the database cannot hold (an integer beyond 64 bits, a NUL character)
  is a 422 problem, not a 500 (PostgreSQL and SQLite);
- a write that loses a race is 412 when it carried If-Match (the version it
  named is gone, as for a stale If-Match found on load) and 409 without.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from sample_domain import registry

from avrr_events import ConcurrencyError
from avrr_events.http import PROBLEM_JSON
from avrr_events.service import Service, ServiceRuntime, ServiceSettings

router = APIRouter()


@router.post("/cases/{case_id}/notes")
async def lose_the_race(case_id: str) -> None:
    """A command whose append meets a concurrent writer's event (ConcurrencyError)."""
    raise ConcurrencyError(f"case-{case_id}", 3)


racing = Service(name="racing", registry=registry, router=router)
AUDITOR = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor"}


@pytest.fixture
async def http(any_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(racing, ServiceSettings(database_url=any_db_url, dev=True))
    app = runtime.app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client,
    ):
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["type"] == f"urn:avrr:problem:{code}", body


async def test_an_integer_beyond_64_bits_is_a_422_problem_not_a_500(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/audit", params={"after": 10**30}, headers=AUDITOR)
    assert_problem(response, 422, "unstorable-value")
    assert str(10**30) not in response.text, "the refused value is not echoed"


async def test_a_nul_character_the_database_refuses_is_a_422_problem_not_a_500(
    http: httpx.AsyncClient, any_db_url: str
) -> None:
    response = await http.get("/audit", params={"case_id": "c\x001"}, headers=AUDITOR)
    if any_db_url.startswith("sqlite"):  # SQLite stores NUL: nothing to refuse
        assert response.status_code == 200, response.text
    else:
        assert_problem(response, 422, "unstorable-value")


async def test_a_lost_race_is_412_with_if_match_and_409_without(
    http: httpx.AsyncClient,
) -> None:
    user = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}
    with_version = await http.post("/cases/c1/notes", headers={**user, "If-Match": '"2"'})
    assert_problem(with_version, 412, "precondition-failed")
    blind = await http.post("/cases/c1/notes", headers=user)
    assert_problem(blind, 409, "concurrency")
    anything = await http.post("/cases/c1/notes", headers={**user, "If-Match": "*"})
    assert_problem(anything, 409, "concurrency")
