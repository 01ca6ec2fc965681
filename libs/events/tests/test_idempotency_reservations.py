"""An Idempotency-Key command takes effect at most once and no retry stays stuck.

The reservation is marked committed in the same atomic write as the command's
events (libs/events http.py ``IdempotencyKeys``, store.py ``reservation``), so
a retry after a crash knows whether the command took effect; a reservation
whose attempt died before committing is taken over once its lease is over.
Each test drives a real database (PostgreSQL and SQLite) through the HTTP API
of a small service whose command opens a new stream every time it runs: a
second run shows as a second stream, never hidden by a version conflict.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sample_domain import SampleCase, registry
from sqlalchemy import func, select

from avrr_events import Cause, ConcurrencyError, Repository, store, tables
from avrr_events.http import IDEMPOTENCY_HEADER, Principal, _body_digest, current_principal
from avrr_events.service import Service, ServiceRuntime, ServiceSettings

router = APIRouter()
User = Annotated[Principal, Depends(current_principal)]
USER = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}
PATH = "/cases"
SCOPE = f"u-1|POST|{PATH}"  # IdempotencyKeys' scope of that user's POSTs to PATH


class CaseIn(BaseModel):
    office: str = Field(min_length=1, max_length=20)


def _repo(runtime: ServiceRuntime) -> Repository[SampleCase]:
    return Repository(runtime.store, registry, SampleCase, source="/avrr/sample")


async def open_case(runtime: ServiceRuntime, office: str) -> str:
    """The command: open a case with a new id (a second run is a second case)."""
    case_id = uuid.uuid4().hex
    case = await _repo(runtime).load(case_id)
    case.open(office)
    await _repo(runtime).save(case, Cause(case_id))
    if office == "crash":
        raise RuntimeError("the process fails after the command committed")
    return case_id


@router.post(PATH, status_code=201)
async def post_case(body: CaseIn, request: Request, user: User) -> Response:
    runtime: ServiceRuntime = request.app.state.runtime

    async def run() -> JSONResponse:
        case_id = await open_case(runtime, body.office)
        return JSONResponse(
            {"case_id": case_id}, status_code=201, headers={"Location": f"{PATH}/{case_id}"}
        )

    return await runtime.idempotency.run(request, user, run)


cases = Service(name="sample", registry=registry, router=router)


@pytest.fixture
async def service(any_db_url: str) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    runtime = ServiceRuntime(cases, ServiceSettings(database_url=any_db_url, dev=True))
    app = runtime.app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://s", headers=USER) as http,
    ):
        yield runtime, http


async def _events(runtime: ServiceRuntime) -> int:
    async with runtime.db.autocommit() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tables.events)) or 0)


async def _reserve(runtime: ServiceRuntime, key: str, body: Any, taken_at: datetime) -> None:
    """The reservation a first attempt of ``POST PATH`` with ``body`` left behind."""
    digest = _digest(body)
    async with runtime.db.transaction() as conn:
        await conn.execute(
            tables.idempotency_keys.insert().values(
                scope=SCOPE, key=key, request_hash=digest, created_at=taken_at
            )
        )


def _digest(body: Any) -> str:
    return _body_digest(json.dumps(body).encode())  # how IdempotencyKeys compares bodies


async def _commit_under(runtime: ServiceRuntime, key: str, taken_at: datetime, office: str) -> str:
    """Run the command as the attempt holding ``key`` since ``taken_at`` would."""
    held = store.reservation.set(store.Reservation(SCOPE, key, taken_at))
    try:
        return await open_case(runtime, office)
    finally:
        store.reservation.reset(held)


async def test_a_retry_after_the_command_committed_but_its_response_was_lost_does_not_run_it_again(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    # The first attempt reserved the key and committed its command; then its
    # process was killed before it stored the response. Its lease is long over.
    taken_at = datetime.now(UTC) - timedelta(minutes=10)
    await _reserve(runtime, "killed", {"office": "o1"}, taken_at)
    await _commit_under(runtime, "killed", taken_at, "o1")
    assert await _events(runtime) == 1

    retry = await http.post(PATH, json={"office": "o1"}, headers={IDEMPOTENCY_HEADER: "killed"})

    assert retry.status_code == 409, retry.text
    assert retry.json()["code_hint"] == "idempotency-key-applied"
    assert "retry-after" not in retry.headers  # retrying cannot bring the response back
    assert await _events(runtime) == 1


async def test_a_command_that_fails_after_committing_keeps_its_key(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    key = {IDEMPOTENCY_HEADER: "fails-late"}
    first = await http.post(PATH, json={"office": "crash"}, headers=key)
    assert first.status_code == 500
    assert await _events(runtime) == 1

    retry = await http.post(PATH, json={"office": "crash"}, headers=key)

    assert retry.status_code == 409 and retry.json()["code_hint"] == "idempotency-key-applied"
    assert await _events(runtime) == 1


async def test_a_reservation_whose_command_never_committed_is_taken_over_after_its_lease(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    # The first attempt reserved the key and died before its command committed.
    await _reserve(runtime, "died", {"office": "o1"}, datetime.now(UTC) - timedelta(minutes=2))
    key = {IDEMPOTENCY_HEADER: "died"}

    retry = await http.post(PATH, json={"office": "o1"}, headers=key)

    assert retry.status_code == 201, retry.text
    assert "idempotency-replayed" not in retry.headers
    again = await http.post(PATH, json={"office": "o1"}, headers=key)
    assert again.status_code == 201 and again.headers["idempotency-replayed"] == "true"
    assert again.json() == retry.json()
    assert await _events(runtime) == 1


async def test_concurrent_retries_of_an_expired_reservation_run_the_command_once(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    await _reserve(runtime, "raced", {"office": "o1"}, datetime.now(UTC) - timedelta(minutes=2))

    answers = await asyncio.gather(
        *(
            http.post(PATH, json={"office": "o1"}, headers={IDEMPOTENCY_HEADER: "raced"})
            for _ in range(6)
        )
    )

    ran = [a for a in answers if a.status_code == 201 and "idempotency-replayed" not in a.headers]
    assert len(ran) == 1, [(a.status_code, a.text) for a in answers]
    for other in answers:
        if other is not ran[0]:
            replayed = other.status_code == 201 and other.json() == ran[0].json()
            in_progress = other.status_code == 409 and "still being processed" in other.text
            assert replayed or in_progress, other.text
    assert await _events(runtime) == 1


async def test_a_retry_during_the_lease_of_a_running_attempt_is_asked_to_come_back(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    await _reserve(runtime, "running", {"office": "o1"}, datetime.now(UTC))

    retry = await http.post(PATH, json={"office": "o1"}, headers={IDEMPOTENCY_HEADER: "running"})

    assert retry.status_code == 409 and "still being processed" in retry.text
    assert int(retry.headers["retry-after"]) > 0
    assert await _events(runtime) == 0


async def test_an_attempt_whose_reservation_was_taken_over_can_no_longer_commit(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    # A slow first attempt outlived its lease; a retry took the key over and ran.
    slow = datetime.now(UTC) - timedelta(minutes=2)
    await _reserve(runtime, "slow", {"office": "o1"}, slow)
    retry = await http.post(PATH, json={"office": "o1"}, headers={IDEMPOTENCY_HEADER: "slow"})
    assert retry.status_code == 201

    with pytest.raises(ConcurrencyError):
        await _commit_under(runtime, "slow", slow, "o1")
    assert await _events(runtime) == 1
