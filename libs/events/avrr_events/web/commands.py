"""The REST side of every command: one FastAPI dependency, one rendering.

A route declares ``command: Command`` and returns ``await command(run)``,
where ``run`` takes the ``CommandContext`` (caller, If-Match, traceparent) and
returns a ``CommandResult``. The dependency authorises the caller by the
service's policy, declares If-Match and Idempotency-Key once for every
OpenAPI document, runs ``run`` once per Idempotency-Key (the key's stored
response is replayed to retries) and renders the result: its status, its body,
``ETag`` (the stream's new version) and ``Location`` when it created something.
Refusals are ``avrr_events.problems`` exceptions, rendered as problem+json by
``http.install_problem_handlers``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from avrr_events.commands import CommandContext, CommandResult, etag
from avrr_events.web.authorization import Authorized

Run = Callable[[CommandContext], Awaitable[CommandResult]]
# A method of a service's command object: (commands, case_id, **fields, context) -> result.
BodyCommand = Callable[..., Awaitable[CommandResult]]

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=100,
        description='the ETag ("<version>") the caller decided on; stale -> 412 problem',
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="retrying with the same key and body replays the first response; "
        "not blank (a blank key is refused with 422), reusing a key with another body is 422",
        json_schema_extra={"pattern": r"\S"},
    ),
]


def render(result: CommandResult) -> JSONResponse:
    """The HTTP answer of a command's result."""
    headers = {"ETag": etag(result.version)}
    if result.location is not None:
        headers["Location"] = result.location
    return JSONResponse(dict(result.body), status_code=result.status, headers=headers)


class CommandCall:
    """One command request: its context, and the runner that answers it."""

    def __init__(self, request: Request, context: CommandContext) -> None:
        self.request = request
        self.context = context

    @property
    def commands(self) -> Any:
        """The service's command object (``Service.commands``)."""
        return self.request.app.state.runtime.commands

    def url_for(self, name: str, **params: str) -> str:
        """The path of route ``name`` (a Location), under the prefix the service is served at."""
        return str(self.request.url_for(name, **params).path)

    async def __call__(self, run: Run, *, location: str | None = None) -> Response:
        """Run the command once per Idempotency-Key and answer its result.

        ``location`` is where the result can be read when the command itself
        does not say (it knows ids, the route knows its paths).
        """

        async def answer() -> JSONResponse:
            result = await run(self.context)
            if result.location is None and location is not None:
                result = dataclasses.replace(result, location=location)
            return render(result)

        runtime = self.request.app.state.runtime
        response: Response = await runtime.idempotency.run(
            self.request, self.context.principal, answer
        )
        return response

    def with_body(self, command: BodyCommand, case_id: str, body: BaseModel) -> Run:
        """The run of ``command`` (a method of the service's command object) on the case
        ``case_id``, given the body's fields as its keyword arguments, by the same names."""
        return lambda ctx: command(self.commands, case_id, **dict(body), context=ctx)

    async def on_case(self, case_id: str, run: Run) -> Response:
        """Run a command on the case ``case_id``, whose result is read at the case: the
        service's route ``get_case``, with the case's id, is its Location."""
        return await self(run, location=self.url_for("get_case", case_id=case_id))


def service_commands(request: Request) -> Any:
    """The service's command object, for a service's typed route dependency.

    It never raises: FastAPI solves dependencies before it validates the body,
    so a dependency that failed on an app without a runtime (a bare app in a
    test, a route mounted elsewhere) would turn a request that must be a 422
    naming its field into a 500.
    """
    runtime = getattr(request.app.state, "runtime", None)
    return getattr(runtime, "commands", None)


async def command_call(
    request: Request,
    principal: Authorized,
    if_match: IfMatchHeader = None,
    _idempotency_key: IdempotencyKeyHeader = None,  # read by IdempotencyKeys; declared here
) -> CommandCall:
    """The dependency behind ``Command``."""
    return CommandCall(
        request, CommandContext(principal, if_match, request.headers.get("traceparent"))
    )


Command = Annotated[CommandCall, Depends(command_call)]
"""A route parameter: the authorised caller's command, run once per Idempotency-Key."""
