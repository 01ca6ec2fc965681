"""A small service whose one command opens a new case every time it runs.

A second run shows as a second stream, never hidden by a version conflict, so
the Idempotency-Key tests count runs by counting events. ``create_app`` serves
it from its own process (``uvicorn --factory``) for the tests that kill that
process; the header ``X-Test-Exit`` makes it die at a chosen moment:

- ``before-commit``: after the command appended, before its unit of work commits;
- ``after-commit``: after the command and its response committed, before a byte
  of the answer is sent.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sample_domain import SampleCase, registry
from sample_service import User

from avrr_events import Cause, Repository
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import Service, ServiceRuntime

router = APIRouter()
PATH = "/cases"
EXIT_HEADER = "X-Test-Exit"


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
        raise RuntimeError("the command fails after it appended")
    return case_id


@router.post(PATH, status_code=201)
async def post_case(body: CaseIn, request: Request, user: User) -> Response:
    runtime: ServiceRuntime = request.app.state.runtime

    async def run() -> JSONResponse:
        case_id = await open_case(runtime, body.office)
        if request.headers.get(EXIT_HEADER) == "before-commit":
            os._exit(137)  # as SIGKILL would: no rollback, no cleanup
        return JSONResponse(
            {"case_id": case_id},
            status_code=201,
            headers={"Location": f"{PATH}/{case_id}", "ETag": '"1"'},
        )

    return await runtime.idempotency.run(request, user, run)


cases = Service(name="sample", registry=registry, router=router)


class _ExitBeforeAnswering:
    """Die once the app has answered, before the answer leaves the process."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or [])
        if headers.get(EXIT_HEADER.lower().encode()) != b"after-commit":
            await self.app(scope, receive, send)
            return

        async def exit_instead(message: Any) -> None:
            if message["type"] == "http.response.start":
                os._exit(137)
            await send(message)

        await self.app(scope, receive, exit_instead)


def create_app() -> FastAPI:
    """The sample service on ``SAMPLE_DATABASE_URL``, with a 1-second reservation lease."""
    settings = ServiceSettings(database_url=os.environ["SAMPLE_DATABASE_URL"], dev=True)
    runtime = ServiceRuntime(cases, settings)
    runtime.idempotency.lease = timedelta(seconds=1)
    app = runtime.app()
    app.add_middleware(_ExitBeforeAnswering)
    return app
