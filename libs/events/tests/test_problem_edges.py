"""Errors the REST fuzzer found, each answered as a problem once for every service.

- a value the database cannot hold (an integer beyond 64 bits, a NUL character
  in a query or in a JSON body on its way into the event store) is a 422
  problem, not a 500 (PostgreSQL and SQLite);
- a write that loses a race is 412 when it carried If-Match (the version it
  named is gone, as for a stale If-Match found on load) and 409 without;
- a body over 1 MiB is a 413 problem before it is read (declared or streamed);
- another method on a route (405) and a body that is not JSON are problems too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel
from sample_domain import SampleCase, registry

from avrr_events import Cause, ConcurrencyError, Repository
from avrr_events.problems import RESERVED_MEMBERS, Conflict
from avrr_events.settings import ServiceSettings
from avrr_events.testing import serving
from avrr_events.web.http import MAX_BODY_BYTES, PROBLEM_JSON
from avrr_events.web.service import Service, ServiceRuntime

router = APIRouter()


@router.post("/cases/{case_id}/notes")
async def lose_the_race(case_id: str) -> None:
    """A command whose append meets a concurrent writer's event (ConcurrencyError)."""
    raise ConcurrencyError(f"case-{case_id}", 3)


class NoteIn(BaseModel):
    text: str


@router.post("/notes", status_code=201)
async def take_note(body: NoteIn) -> dict[str, int]:
    return {"length": len(body.text)}


@router.post("/cases/{case_id}/stored-notes", status_code=201)
async def store_note(case_id: str, body: NoteIn, request: Request) -> dict[str, int]:
    """A command appending the note's text to the event store (JSON in PostgreSQL)."""
    runtime: ServiceRuntime = request.app.state.runtime
    repo = Repository(runtime.store, registry, SampleCase, source="/avrr/racing")
    case = await repo.load(case_id)
    if not case.exists:
        case.open("office")
    case.add_note(body.text, author="u-1")
    await repo.save(case, Cause(case_id))
    return {"version": case.version}


racing = Service(name="racing", registry=registry, router=router)
AUDITOR = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor"}


@pytest.fixture
async def http(any_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(
        racing, ServiceSettings(database_url=any_db_url, dev=True, kafka_bootstrap_servers=None)
    )
    async with serving(runtime, base_url="http://r") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    expected = f"urn:avrr:problem:{code}" if code else "about:blank"
    assert body["status"] == status and body["type"] == expected, body


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


async def test_a_nul_character_in_a_json_body_the_event_store_refuses_is_a_422_problem(
    http: httpx.AsyncClient, any_db_url: str
) -> None:
    # Found by the fuzzer: "\u0000" in a counselling topic reached PostgreSQL's jsonb
    # through the store's own asyncpg connection (UntranslatableCharacterError: 500).
    user = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}
    response = await http.post("/cases/c1/stored-notes", json={"text": "a\x00b"}, headers=user)
    if any_db_url.startswith("sqlite"):  # SQLite stores NUL: nothing to refuse
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422, "unstorable-value")
        fine = await http.post("/cases/c1/stored-notes", json={"text": "ab"}, headers=user)
        assert fine.status_code == 201 and fine.json() == {"version": 2}, fine.text


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


async def test_a_body_over_the_limit_is_a_413_problem_whether_declared_or_streamed(
    http: httpx.AsyncClient,
) -> None:
    user = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}
    small = await http.post("/notes", json={"text": "x" * 1000}, headers=user)
    assert small.status_code == 201, small.text
    declared = await http.post("/notes", json={"text": "x" * MAX_BODY_BYTES}, headers=user)
    assert_problem(declared, 413, "")
    # Refused before routing: a command route that reads no body never runs (its 409).
    oversized = b"x" * (MAX_BODY_BYTES + 1)
    assert_problem(await http.post("/cases/c1/notes", content=oversized, headers=user), 413, "")

    async def stream() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * (MAX_BODY_BYTES // 10)
        yield b'"}'

    streamed = await http.post(
        "/notes", content=stream(), headers={**user, "content-type": "application/json"}
    )
    assert_problem(streamed, 413, "")


async def test_another_method_and_a_body_that_is_not_json_are_problems(
    http: httpx.AsyncClient,
) -> None:
    user = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}
    assert_problem(await http.delete("/notes", headers=user), 405, "")
    for content_type, content in (("text/plain", b"hello"), ("application/json", b"{")):
        response = await http.post(
            "/notes", content=content, headers={**user, "content-type": content_type}
        )
        assert_problem(response, 422, "validation")


def test_a_problem_refuses_an_extension_named_after_one_of_its_members() -> None:
    """``status`` (or type, title, detail, instance, code) as an extension would stand for
    the problem's own member twice; raising one fails where it is written, not as a 500
    when the problem is rendered."""
    for member in sorted(RESERVED_MEMBERS - {"detail"}):  # detail is the problem's argument
        extension: dict[str, Any] = {member: "resolved"}
        with pytest.raises(TypeError, match=member):
            Conflict(**extension)
    assert Conflict(feedback_status="resolved").extensions == {"feedback_status": "resolved"}
