"""Files: a route marked ``takes_bodies_up_to`` takes bodies over the 1 MiB every command has,
up to its own limit (413 problem+json past it, declared or streamed), while every other route
keeps 1 MiB; and a file sealed for a person opens only for them and as what it was sealed as,
and never once their key is shredded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from avrr_events import ERASED, Database, MasterKey, PersonalDataCipher, SqlKeyStore
from avrr_events.web.http import MAX_BODY_BYTES, install_problem_handlers, takes_bodies_up_to

UPLOAD_LIMIT = 3 * MAX_BODY_BYTES


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/uploads")
    @takes_bodies_up_to(lambda: UPLOAD_LIMIT)
    async def upload(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/commands")
    async def command(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _is_413(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert str(limit) in response.json()["detail"]


async def test_a_file_route_takes_bodies_up_to_its_own_limit_and_no_other_route_does(
    http: httpx.AsyncClient,
) -> None:
    body = b"x" * (2 * MAX_BODY_BYTES)
    taken = await http.post("/uploads", content=body)
    assert taken.status_code == 200 and taken.json() == {"received": len(body)}
    _is_413(await http.post("/commands", content=body), MAX_BODY_BYTES)
    _is_413(await http.post("/uploads", content=b"x" * (UPLOAD_LIMIT + 1)), UPLOAD_LIMIT)

    async def stream(size: int) -> AsyncIterator[bytes]:
        for _ in range(size // MAX_BODY_BYTES):
            yield b"x" * MAX_BODY_BYTES
        yield b"x"

    streamed = await http.post("/uploads", content=stream(2 * MAX_BODY_BYTES))
    assert streamed.status_code == 200, streamed.text
    _is_413(await http.post("/commands", content=stream(2 * MAX_BODY_BYTES)), MAX_BODY_BYTES)
    _is_413(await http.post("/uploads", content=stream(UPLOAD_LIMIT)), UPLOAD_LIMIT)


async def test_a_sealed_file_opens_for_its_person_and_binding_only_and_never_after_erasure(
    any_db_url: str,
) -> None:
    db = Database(any_db_url)
    await db.create_schema()
    try:
        cipher = PersonalDataCipher(SqlKeyStore(db, MasterKey.from_env(allow_dev=True)))
        scan = b"%PDF-1.7 passport BO1234567"
        sealed = await cipher.seal_bytes("person-f1", scan, binding="case-1/file-1")
        assert b"BO1234567" not in sealed and len(sealed) == len(scan) + 12 + 16
        assert await cipher.open_bytes("person-f1", sealed, binding="case-1/file-1") == scan
        with pytest.raises(ValueError):  # copied to another file of the case
            await cipher.open_bytes("person-f1", sealed, binding="case-1/file-2")
        await cipher.keys.get_or_create("person-f2")
        with pytest.raises(ValueError):  # or passed off as someone else's
            await cipher.open_bytes("person-f2", sealed, binding="case-1/file-1")
        assert await cipher.erase("person-f1")
        assert await cipher.open_bytes("person-f1", sealed, binding="case-1/file-1") is ERASED
    finally:
        await db.dispose()
