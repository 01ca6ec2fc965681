"""The refusals every service shares answer in the reader's language (issue 19).

If-Match, Idempotency-Key and the roles of a route refuse alike in every
service (``avrr_events.refusals``, the library's catalog): a stale version,
a key reused with another body, a missing role read in Spanish, Portuguese or
French when the reader asks, with the facts (versions, roles) as they are;
without Accept-Language the detail is the English one it always was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from sample_domain import CaseSummary, SampleCase, read_models, registry
from sample_service import User

from avrr_events import Cause, ConcurrencyError, Repository
from avrr_events.settings import ServiceSettings
from avrr_events.testing import serving
from avrr_events.web.http import Principal, check_if_match, etag, require_role
from avrr_events.web.service import Service, ServiceRuntime

router = APIRouter()


@router.post("/cases/{case_id}/notes", status_code=201)
async def add_note(
    case_id: str,
    request: Request,
    user: User,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    runtime: ServiceRuntime = request.app.state.runtime
    repo = Repository(runtime.store, registry, SampleCase, source="/avrr/sample")
    body = await request.json()

    async def run() -> JSONResponse:
        case = await repo.load(case_id)
        check_if_match(if_match, case.version)
        if not case.exists:
            case.open("office")
        case.add_note(str(body["text"]), author=user.user_id)
        await repo.save(case, Cause(case_id))
        return JSONResponse({"version": case.version}, status_code=201)

    return await runtime.idempotency.run(request, user, run)


@router.get("/admin")
async def admin(_user: Annotated[Principal, Depends(require_role("admin"))]) -> dict[str, str]:
    return {"ok": "yes"}


@router.get("/race")
async def race() -> None:
    raise ConcurrencyError("case-x", 3)


sample = Service(
    name="sample",
    registry=registry,
    router=router,
    projections=lambda _rt: [CaseSummary()],
    read_models=[read_models],
)
USER = {"X-AVRR-User": "u-1", "X-AVRR-Roles": "caseworker"}


@pytest.fixture
async def http(any_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(sample, ServiceSettings(database_url=any_db_url, dev=True))
    async with serving(runtime, base_url="http://s", headers=USER) as client:
        yield client


async def test_a_stale_if_match_is_refused_in_the_readers_language(
    http: httpx.AsyncClient,
) -> None:
    created = await http.post("/cases/c1/notes", json={"text": "a"})
    assert created.status_code == 201 and etag(created.json()["version"]) == '"2"'
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
    http: httpx.AsyncClient,
) -> None:
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
    http: httpx.AsyncClient,
) -> None:
    """The race's loser reads why (409, or 412 when it named a version) in its language."""
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
