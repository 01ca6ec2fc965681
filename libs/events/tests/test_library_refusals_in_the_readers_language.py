"""The library's own answers in the reader's language (issue 19: Accept-Language).

Every service answers a body too large (413), a path or method no route has
(404, 405), a database that is away (503) and an error nobody expected (500)
with the library's problems. Their details are messages of the library's
catalog: asked in Portuguese they read in Portuguese (Content-Language and
Vary say so); without Accept-Language they are the English they always were.
The 503 is met both ways it happens: a connection refused outside any
handler, and a request whose database restarts under it (a TCP proxy in
front of the real PostgreSQL, as test_database_away plays it), where the
audit of the case's route, which cannot be recorded either, answers last.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from pydantic_core import PydanticKnownError
from sample_domain import registry
from test_database_away import HEADERS, restarting

from avrr_events.notices.wording import Wording
from avrr_events.refusals import worded as library_worded
from avrr_events.settings import ServiceSettings
from avrr_events.testing import serving
from avrr_events.validation import PYDANTIC_REASONS, InvalidValue, reason_wording
from avrr_events.web.http import MAX_BODY_BYTES, PROBLEM_JSON
from avrr_events.web.service import Service, ServiceRuntime

router = APIRouter()
PT = {**HEADERS, "Accept-Language": "pt-BR, pt;q=0.9, en;q=0.5"}


class NoteIn(BaseModel):
    text: str


@router.post("/notes")
async def add_note(body: NoteIn) -> dict[str, int]:
    return {"length": len(body.text)}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("failed for Maria Quispe born 1990-04-12")


@router.get("/away")
async def away() -> None:
    raise ConnectionRefusedError("the database refused the connection")


worded = Service(name="worded", registry=registry, router=router)


@pytest.fixture
async def http(any_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = ServiceRuntime(
        worded, ServiceSettings(database_url=any_db_url, dev=True, kafka_bootstrap_servers=None)
    )
    async with serving(runtime, base_url="http://w", raise_app_exceptions=False) as client:
        yield client


def in_portuguese(response: httpx.Response, status: int) -> str:
    """The detail of a problem answered ``status`` in Portuguese, as its headers say."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["content-language"] == "pt"
    assert "accept-language" in response.headers["vary"].lower()
    detail: str = response.json()["detail"]
    return detail


async def test_a_body_too_large_is_refused_in_the_readers_language(
    http: httpx.AsyncClient,
) -> None:
    declared = await http.post("/notes", json={"text": "x" * MAX_BODY_BYTES}, headers=PT)
    expected = f"o corpo do pedido é maior que {MAX_BODY_BYTES} bytes"
    assert in_portuguese(declared, 413) == expected

    async def without_a_length() -> AsyncIterator[bytes]:  # streamed: refused as it comes
        for part in (b'{"text": "', b"x" * MAX_BODY_BYTES, b'"}'):
            yield part

    streamed = await http.post(
        "/notes", content=without_a_length(), headers={**PT, "content-type": "application/json"}
    )
    assert in_portuguese(streamed, 413) == expected
    english = await http.post("/notes", json={"text": "x" * MAX_BODY_BYTES}, headers=HEADERS)
    assert english.json()["detail"] == f"the request body is larger than {MAX_BODY_BYTES} bytes"


async def test_no_route_and_no_method_are_refused_in_the_readers_language(
    http: httpx.AsyncClient,
) -> None:
    assert in_portuguese(await http.get("/nowhere", headers=PT), 404) == "Não encontrado"
    assert in_portuguese(await http.get("/notes", headers=PT), 405) == "Método não permitido"
    english = await http.get("/nowhere", headers=HEADERS)
    assert english.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
        "instance": "/nowhere",
    }


async def test_an_unexpected_error_is_answered_in_the_readers_language(
    http: httpx.AsyncClient,
) -> None:
    crashed = await http.get("/boom", headers=PT)
    assert in_portuguese(crashed, 500) == (
        "ocorreu um erro inesperado; indique o identificador do erro ao comunicá-lo"
    )
    assert "Maria" not in crashed.text
    english = (await http.get("/boom", headers=HEADERS)).json()
    assert english["detail"] == "an unexpected error occurred; quote the error id when reporting it"


AWAY_PT = (
    "uma base de dados ou um intermediário de mensagens de que este serviço precisa não está "
    "respondendo; nada foi alterado, tente novamente após o prazo"
)
AWAY_EN = (
    "a database or broker this service needs is not answering; nothing was changed, "
    "retry after the delay"
)


async def test_a_connection_refused_outside_a_handler_is_a_503_in_the_readers_language(
    http: httpx.AsyncClient,
) -> None:
    refused = await http.get("/away", headers=PT)
    assert in_portuguese(refused, 503) == AWAY_PT
    assert int(refused.headers["Retry-After"]) > 0
    english = (await http.get("/away", headers=HEADERS)).json()
    assert english == {
        "type": "urn:avrr:problem:unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": AWAY_EN,
    }


async def test_a_database_restart_is_a_503_in_the_readers_language(database_url: str) -> None:
    async with restarting(database_url) as (proxy, http):
        assert (await http.post("/cases/w-1", headers=HEADERS)).status_code == 200
        await proxy.down()
        # A case's route is audited: the audit entry, not recordable either, answers last.
        response = await http.post("/cases/w-2", headers=PT)
        assert in_portuguese(response, 503) == (
            "não foi possível registar o acesso na auditoria; tente novamente"
        )
        assert response.json()["type"].endswith(":unavailable")
        english = await http.post("/cases/w-3", headers=HEADERS)
        assert english.status_code == 503
        assert english.json()["detail"] == "the access could not be audited; try again"


def test_each_pydantic_reason_of_the_catalog_reads_as_pydantic_writes_it() -> None:
    """The English of every message of ``PYDANTIC_REASONS`` is pydantic's own sentence for
    that error type (a pydantic upgrade that rewords one fails here, not in a client)."""
    samples: dict[str, object] = {
        "max_length": 200,
        "min_length": 1,
        "actual_length": 3,
        "field_type": "List",
        "pattern": "^[A-Z]{2}$",
        "expected": "'a', 'b' or 'c'",
        "gt": 0,
        "ge": 1,
        "lt": 10,
        "le": 9,
        "error": "input is too short",
    }
    for kind, message in PYDANTIC_REASONS.items():
        names = set(re.findall(r"%\((\w+)\)s", message)) - {"expected_plural"}
        ctx = {name: samples[name] for name in names}
        if kind == "value_error":
            ctx["error"] = InvalidValue(library_worded("must not be in the future"))
        english = PydanticKnownError(kind, ctx or None).message()  # type: ignore[arg-type]
        wording = reason_wording({"type": kind, "ctx": ctx, "msg": english})
        assert isinstance(wording, Wording), kind
        assert wording.english == english, kind
        assert wording.in_language("pt") != english, kind
