"""An Idempotency-Key command takes effect at most once and no retry stays stuck.

The reservation is marked committed in the same atomic write as the command's
events (libs/events http.py ``IdempotencyKeys``, store.py ``reservation``), so
a retry after a crash knows whether the command took effect; the command's
events and its response commit in one unit of work, so a process killed at
any moment leaves either nothing (the retry runs the command) or the response
to replay. A reservation whose attempt died before committing is taken over
once its lease is over. Each test drives a real database (PostgreSQL and
SQLite) through the HTTP API of a small service whose command opens a new
stream every time it runs: a second run shows as a second stream, never hidden
by a version conflict.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sample_commands import EXIT_HEADER, PATH, cases, open_case
from sqlalchemy import func, select

from avrr_events import ConcurrencyError, store, tables
from avrr_events.adapters.database import Database
from avrr_events.settings import ServiceSettings
from avrr_events.testing import _free_port, serving
from avrr_events.web.http import IDEMPOTENCY_HEADER, _body_digest
from avrr_events.web.service import ServiceRuntime

USER = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}
SCOPE = f"u-1|POST|{PATH}"  # IdempotencyKeys' scope of that user's POSTs to PATH


@pytest.fixture
async def service(any_db_url: str) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    runtime = ServiceRuntime(cases, ServiceSettings(database_url=any_db_url, dev=True))
    async with serving(
        runtime, base_url="http://s", headers=USER, raise_app_exceptions=False
    ) as http:
        yield runtime, http


async def _events(runtime: ServiceRuntime) -> int:
    async with runtime.db.autocommit() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tables.events)) or 0)


async def _reserve(runtime: ServiceRuntime, key: str, taken_at: datetime) -> None:
    """The reservation a first ``_attempt`` with ``key`` left behind (taken at ``taken_at``)."""
    digest = _digest({"office": "o1"})
    async with runtime.db.transaction() as conn:
        await conn.execute(
            tables.idempotency_keys.insert().values(
                scope=SCOPE, key=key, request_hash=digest, created_at=taken_at
            )
        )


async def _attempt(
    http: httpx.AsyncClient, key: str, office: str = "o1", headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """``POST PATH`` opening a case at ``office`` under Idempotency-Key ``key`` (an attempt
    or its retry), with ``headers`` added."""
    sent = {IDEMPOTENCY_HEADER: key, **(headers or {})}
    return await http.post(PATH, json={"office": office}, headers=sent)


def _digest(body: Any) -> str:
    return _body_digest(json.dumps(body).encode())  # how IdempotencyKeys compares bodies


async def _commit_under(runtime: ServiceRuntime, key: str, taken_at: datetime, office: str) -> str:
    """Run the command as the attempt holding ``key`` since ``taken_at`` would."""
    held = store.reservation.set(store.Reservation(SCOPE, key, taken_at))
    try:
        return await open_case(runtime, office)
    finally:
        store.reservation.reset(held)


async def test_a_reservation_committed_without_a_response_is_not_run_again(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    # A reservation stored before responses committed with their effects: its
    # command committed, its process died before it stored the response.
    taken_at = datetime.now(UTC) - timedelta(minutes=10)
    await _reserve(runtime, "killed", taken_at)
    await _commit_under(runtime, "killed", taken_at, "o1")
    assert await _events(runtime) == 1

    retry = await _attempt(http, "killed")

    assert retry.status_code == 409, retry.text
    assert retry.json()["code_hint"] == "idempotency-key-applied"
    assert "retry-after" not in retry.headers  # retrying cannot bring the response back
    assert await _events(runtime) == 1


async def test_a_command_that_fails_after_appending_takes_no_effect_and_frees_its_key(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    first = await _attempt(http, "fails-late", office="crash")
    assert first.status_code == 500
    assert await _events(runtime) == 0  # its append went with its unit of work

    retry = await _attempt(http, "fails-late", office="crash")

    assert retry.status_code == 500 and "idempotency" not in retry.text  # it ran again
    assert await _events(runtime) == 0


async def test_a_reservation_whose_command_never_committed_is_taken_over_after_its_lease(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    # The first attempt reserved the key and died before its command committed.
    await _reserve(runtime, "died", datetime.now(UTC) - timedelta(minutes=2))

    retry = await _attempt(http, "died")

    assert retry.status_code == 201, retry.text
    assert "idempotency-replayed" not in retry.headers
    again = await _attempt(http, "died")
    assert again.status_code == 201 and again.headers["idempotency-replayed"] == "true"
    assert again.json() == retry.json()
    assert await _events(runtime) == 1


async def test_concurrent_retries_of_an_expired_reservation_run_the_command_once(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    await _reserve(runtime, "raced", datetime.now(UTC) - timedelta(minutes=2))

    answers = await asyncio.gather(*(_attempt(http, "raced") for _ in range(6)))

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
    await _reserve(runtime, "running", datetime.now(UTC))

    retry = await _attempt(http, "running")

    assert retry.status_code == 409 and "still being processed" in retry.text
    assert int(retry.headers["retry-after"]) > 0
    assert await _events(runtime) == 0


async def test_an_attempt_whose_reservation_was_taken_over_can_no_longer_commit(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = service
    # A slow first attempt outlived its lease; a retry took the key over and ran.
    slow = datetime.now(UTC) - timedelta(minutes=2)
    await _reserve(runtime, "slow", slow)
    retry = await _attempt(http, "slow")
    assert retry.status_code == 201

    with pytest.raises(ConcurrencyError):
        await _commit_under(runtime, "slow", slow, "o1")
    assert await _events(runtime) == 1


# ------------------------------------------------- a process killed mid-command --


class _Process:
    """The sample service in a process of its own, started again after each death."""

    def __init__(self, db_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SAMPLE_DATABASE_URL": db_url,
            "AVRR_DEV_AUTH_OVERRIDE": "1",
            "PYTHONPATH": str(Path(__file__).parent),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "sample_commands:create_app",
             "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
        )  # fmt: skip
        deadline = 60.0
        while deadline > 0:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, "the sample service did not start"
            deadline -= 0.2
            time.sleep(0.2)
        raise AssertionError("the sample service did not become ready")

    def died(self) -> bool:
        assert self.proc is not None
        return self.proc.wait(timeout=30) == 137

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def process(any_db_url: str) -> Iterator[_Process]:
    served = _Process(any_db_url)
    served.start()
    yield served
    served.stop()


async def _events_in(url: str) -> int:
    db = Database(url)
    try:
        async with db.autocommit() as conn:
            return int(await conn.scalar(select(func.count()).select_from(tables.events)) or 0)
    finally:
        await db.dispose()


async def dies_while_answering(
    http: httpx.AsyncClient, process: _Process, key: str, moment: str
) -> None:
    """POST the command with ``key``; the process exits at ``moment`` (EXIT_HEADER), unanswered."""
    with pytest.raises(httpx.TransportError):
        await _attempt(http, key, headers={EXIT_HEADER: moment})
    assert process.died()


async def test_a_retry_after_the_process_died_between_commit_and_answer_gets_the_original_answer(
    process: _Process, any_db_url: str
) -> None:
    async with httpx.AsyncClient(base_url=process.url, timeout=30, headers=USER) as http:
        await dies_while_answering(http, process, "answer-lost", "after-commit")
        assert await _events_in(any_db_url) == 1
        process.start()

        retry = await _attempt(http, "answer-lost")

    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotency-replayed"] == "true"
    case_id = retry.json()["case_id"]  # the id the killed attempt created
    assert retry.headers["location"] == f"{PATH}/{case_id}"
    assert retry.headers["etag"] == '"1"'
    assert await _events_in(any_db_url) == 1


async def test_a_retry_after_the_process_died_before_its_commit_runs_the_command_once(
    process: _Process, any_db_url: str
) -> None:
    async with httpx.AsyncClient(base_url=process.url, timeout=30, headers=USER) as http:
        await dies_while_answering(http, process, "died-first", "before-commit")
        assert await _events_in(any_db_url) == 0  # the append died with its unit of work
        process.start()
        await asyncio.sleep(1.1)  # the dead attempt's lease (1 s in the sample) is over

        retry = await _attempt(http, "died-first")
        again = await _attempt(http, "died-first")

    assert retry.status_code == 201 and "idempotency-replayed" not in retry.headers, retry.text
    assert again.status_code == 201 and again.headers["idempotency-replayed"] == "true"
    assert again.json() == retry.json()
    assert await _events_in(any_db_url) == 1
