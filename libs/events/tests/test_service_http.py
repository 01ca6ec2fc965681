"""The shared service runtime and HTTP plumbing, on a sample service (PostgreSQL and SQLite)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sample_domain import CaseSummary, SampleCase, read_models, registry, total_notes
from sample_service import User

from avrr_events import Cause, ConcurrencyError, Repository
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, serving
from avrr_events.web.http import (
    DomainRuleViolation,
    NotFound,
    Principal,
    check_if_match,
    etag,
    if_match_version,
    require_role,
    where_it_failed,
)
from avrr_events.web.service import Service, ServiceRuntime

router = APIRouter()


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=20)


def _repo(request: Request) -> Repository[SampleCase]:
    runtime: ServiceRuntime = request.app.state.runtime
    return Repository(runtime.store, registry, SampleCase, source="/avrr/sample")


@router.post("/cases/{case_id}/notes", status_code=201)
async def add_note(
    case_id: str,
    body: NoteIn,
    request: Request,
    user: User,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    async def run() -> JSONResponse:
        case = await _repo(request).load(case_id)
        check_if_match(if_match, case.version)
        if not case.exists:
            case.open("office")
        if body.text == "forbidden":
            raise DomainRuleViolation("that note is not allowed")
        case.add_note(body.text, author=user.user_id)
        await _repo(request).save(case, Cause(case_id))
        return JSONResponse(
            {"case_id": case_id, "version": case.version},
            status_code=201,
            headers={"ETag": etag(case.version)},
        )

    runtime: ServiceRuntime = request.app.state.runtime
    return await runtime.idempotency.run(request, user, run)


@router.get("/cases/{case_id}")
async def get_case(case_id: str, request: Request, _user: User) -> JSONResponse:
    runtime: ServiceRuntime = request.app.state.runtime
    version = await runtime.store.stream_version(f"case-{case_id}")
    if version == 0:
        raise NotFound(f"case {case_id} not found")
    return JSONResponse({"case_id": case_id}, headers={"ETag": etag(version)})


@router.get("/admin")
async def admin(_user: Annotated[Principal, Depends(require_role("admin"))]) -> dict[str, str]:
    return {"ok": "yes"}


@router.get("/race")
async def race() -> None:
    raise ConcurrencyError("case-x", 3)


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("failed for Maria Quispe born 1990-04-12")


sample = Service(
    name="sample",
    registry=registry,
    router=router,
    projections=lambda _rt: [CaseSummary()],
    read_models=[read_models],
)
USER = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}


@pytest.fixture
async def sample_http(any_db_url: str) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    runtime = ServiceRuntime(sample, ServiceSettings(database_url=any_db_url, dev=True))
    async with serving(runtime, base_url="http://s", headers=USER) as http:
        yield runtime, http


async def _notes(runtime: ServiceRuntime) -> int:
    async with runtime.db.engine.connect() as conn:
        return await total_notes(conn)


async def test_the_runtime_runs_relay_and_consumer_so_projections_follow_commands(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = sample_http
    assert (await http.post("/cases/c1/notes", json={"text": "a"})).status_code == 201

    async def projected() -> bool:
        return await _notes(runtime) == 1

    await eventually(projected, timeout=10)
    assert (await http.get("/health/ready")).json()["status"] == "ok"


async def test_idempotency_key_replays_the_first_response_and_refuses_another_body(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = sample_http
    key = {"Idempotency-Key": "abc"}
    first = await http.post("/cases/c1/notes", json={"text": "a"}, headers=key)
    # Same JSON, other spacing and key order: the same request.
    again = await http.post(
        "/cases/c1/notes",
        content=b'{ "text" :  "a" }',
        headers={**key, "content-type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotency-replayed"] == "true"
    assert await runtime.store.stream_version("case-c1") == 2  # opened + one note

    other = await http.post("/cases/c1/notes", json={"text": "b"}, headers=key)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    # A failed command does not use the key up: the corrected retry runs.
    failed = await http.post(
        "/cases/c2/notes", json={"text": "forbidden"}, headers={"Idempotency-Key": "k2"}
    )
    assert failed.status_code == 422 and failed.json()["detail"] == "that note is not allowed"
    fixed = await http.post(
        "/cases/c2/notes", json={"text": "ok"}, headers={"Idempotency-Key": "k2"}
    )
    assert fixed.status_code == 201


async def test_if_match_with_a_stale_version_is_412_and_writes_nothing(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    runtime, http = sample_http
    created = await http.post("/cases/c1/notes", json={"text": "a"})
    tag = created.headers["etag"]
    assert tag == '"2"' and (await http.get("/cases/c1")).headers["etag"] == tag
    ok = await http.post("/cases/c1/notes", json={"text": "b"}, headers={"If-Match": tag})
    assert ok.status_code == 201
    stale = await http.post("/cases/c1/notes", json={"text": "c"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_etag"] == '"3"'
    assert await runtime.store.stream_version("case-c1") == 3


async def test_errors_are_problem_details(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, http = sample_http
    invalid = await http.post("/cases/c1/notes", json={"text": "x" * 21})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    [error] = invalid.json()["errors"]
    assert error["field"] == "text" and error["pointer"] == "/text" and error["reason"]
    assert "xxxxx" not in invalid.text, "submitted values are never echoed"

    missing = await http.get("/cases/nope")
    assert (missing.status_code, missing.json()["title"]) == (404, "Not Found")
    no_route = await http.get("/no/such/route")
    assert no_route.status_code == 404
    assert no_route.headers["content-type"] == "application/problem+json"
    assert (await http.get("/race")).status_code == 409
    assert (await http.get("/admin")).status_code == 403
    assert (await http.get("/admin", headers={"X-AVRR-User": ""})).status_code == 401

    with caplog.at_level(logging.ERROR):
        crashed = await http.get("/boom")
    assert crashed.status_code == 500
    assert crashed.headers["content-type"] == "application/problem+json"
    assert "Maria" not in crashed.text
    assert "RuntimeError" in caplog.text and "Maria" not in caplog.text
    assert crashed.json()["error_id"] in caplog.text
    assert re.search(r"test_service_http.py:\d+ boom", caplog.text), "the log says where it failed"


def test_if_match_parsing() -> None:
    assert if_match_version(None) is None and if_match_version("*") is None
    assert if_match_version('"7"') == 7 and if_match_version('W/"7"') == 7
    check_if_match('"7"', 7)
    with pytest.raises(Exception, match="version 8, not 7"):
        check_if_match('"7"', 8)


# -- issue 19: the refusals every service shares (avrr_events.refusals, the library's
# catalog) read in the language the reader asks for, facts as they are; English without
# Accept-Language, the detail it always was.


async def test_a_stale_if_match_is_refused_in_the_readers_language(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, http = sample_http
    assert (await http.post("/cases/c1/notes", json={"text": "a"})).headers["etag"] == '"2"'
    stale = {"If-Match": '"1"'}
    answers = {
        language: await http.post(
            "/cases/c1/notes", json={"text": "b"}, headers={**stale, "Accept-Language": language}
        )
        for language in ("es", "pt", "fr")
    }
    assert {r.status_code for r in answers.values()} == {412}
    assert answers["es"].json()["detail"] == (
        "el caso está en la versión 2, no en la 1: vuelva a leerlo e inténtelo de nuevo"
    )
    assert answers["pt"].json()["detail"] == (
        "o processo está na versão 2, não na 1: leia-o de novo e tente outra vez"
    )
    assert answers["fr"].headers["content-language"] == "fr"
    assert answers["fr"].json()["current_etag"] == '"2"'  # the extension stays as it was
    english = await http.post("/cases/c1/notes", json={"text": "b"}, headers=stale)
    assert english.json()["detail"] == "the case is at version 2, not 1: read it again and retry"


async def test_a_reused_idempotency_key_and_a_missing_role_are_worded_too(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, http = sample_http
    key = {"Idempotency-Key": "k-1"}
    assert (await http.post("/cases/c2/notes", json={"text": "a"}, headers=key)).status_code == 201
    reused = await http.post(
        "/cases/c2/notes", json={"text": "b"}, headers={**key, "Accept-Language": "es"}
    )
    assert reused.status_code == 422
    assert reused.json()["detail"] == "esta Idempotency-Key ya se usó con otro cuerpo de solicitud"
    assert reused.json()["code_hint"] == "idempotency-key-reused"

    refused = await http.get("/admin", headers={"Accept-Language": "pt-BR, pt;q=0.9"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "esta ação requer uma destas funções: admin"
    assert refused.headers["content-language"] == "pt"
    as_always = await http.get("/admin")
    assert as_always.json()["detail"] == "this action needs one of the roles: admin"


async def test_a_concurrent_change_is_refused_in_the_readers_language(
    sample_http: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    """The race's loser reads why (409, or 412 when it named a version) in its language."""
    _, http = sample_http
    lost = await http.get("/race", headers={"Accept-Language": "fr"})
    assert lost.status_code == 409 and lost.headers["content-language"] == "fr"
    assert lost.json()["detail"] == (
        "le dossier a été modifié en même temps par une autre requête : relisez-le et réessayez"
    )
    named = await http.get("/race", headers={"If-Match": '"2"', "Accept-Language": "es"})
    assert named.status_code == 412
    assert named.json()["detail"].startswith("el caso cambió después de la versión")
    as_always = await http.get("/race")
    english = "the case was changed concurrently: read it again and retry"
    assert as_always.json()["detail"] == english


def test_where_an_error_failed_names_places_and_classes_never_messages() -> None:
    def decrypt() -> None:
        raise KeyError("Maria Quispe")

    def read_case() -> None:
        try:
            decrypt()
        except KeyError as exc:
            raise TypeError("no key for Maria Quispe") from exc

    try:
        read_case()
    except TypeError as exc:
        where = where_it_failed(exc)
    assert where.startswith("TypeError [tests/test_service_http.py:")
    assert " read_case <- " in where and " from KeyError [" in where and " decrypt <- " in where
    assert "Maria" not in where
