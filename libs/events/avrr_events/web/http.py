"""The HTTP plumbing every service's REST API shares.

- Errors are problem details (RFC 9457, ``application/problem+json``): request
  validation (422 with an ``errors`` list), domain rules (422), not found
  (404), concurrency (409), failed preconditions (412), and a catch-all 500
  that logs the error class and route but never the message or the body,
  which may hold personal data.
- Concurrency control: the ETag of an aggregate is its stream version as a
  strong validator (``"7"``). RFC 9110 compares If-Match strongly, so a weak
  ETag could never satisfy it. A write whose If-Match names a version the
  stream is no longer at gets **412 Precondition Failed** (the client's stated
  precondition is false: re-read and decide again), whether that shows when
  the command loads the stream or only when its append loses a race to a
  concurrent writer: the answer depends on what the client sent, not on
  timing. A write without If-Match that loses such a race gets **409
  Conflict** (retry: the command re-checks every invariant on the latest
  state). A command the current state does not allow is the service's own
  domain answer (409 or 422, see each API). Of N concurrent writes with the
  same If-Match exactly one succeeds and N-1 get 412.
- Values the database cannot hold (an integer beyond 64 bits, a NUL
  character, an impossible date that slipped past validation) are a 422
  problem, never a 500.
- A body over ``MAX_BODY_BYTES`` (1 MiB; a command is a few kilobytes) is a
  413 problem before it is read into memory: by its Content-Length, or while
  it streams in.
- Idempotency-Key on POST (draft-ietf-httpapi-idempotency-key-header): the
  first request with a key reserves it, runs, and stores its response; a retry
  with the same key and body gets that response replayed (no second event); the
  same key with another body is a 422 problem; a retry while the first is
  still running is a 409 problem with Retry-After. The reservation is marked
  committed with the command's events, so a retry after a crash either answers
  that the command was applied or, once the dead attempt's lease is over, runs
  it (see ``IdempotencyKeys``).
- Authentication: an OIDC bearer token checked by the app's authenticator
  (avrr_events.web.auth); a rejected token is a 401 problem with
  ``WWW-Authenticate: Bearer error="invalid_token"``. With dev auth enabled
  (embedded default, tests) the ``X-AVRR-User`` / ``X-AVRR-Roles`` /
  ``X-AVRR-Offices`` headers stand in for a token; otherwise they count for
  nothing. Who may call which route is avrr_events.web.authorization (the
  services' policies); ``require_role`` is for small apps without one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from avrr_events import store, tables
from avrr_events.adapters import postgres
from avrr_events.adapters.database import Database, unavailable

# Re-exported: the routes' imports predate the move of these into the core.
from avrr_events.commands import Principal as Principal
from avrr_events.commands import check_if_match as check_if_match
from avrr_events.commands import etag as etag
from avrr_events.commands import if_match_version as if_match_version
from avrr_events.notices.catalogs import N_
from avrr_events.notices.languages import DEFAULT, choose
from avrr_events.notices.wording import Wording
from avrr_events.problems import Conflict as Conflict
from avrr_events.problems import DomainRuleViolation as DomainRuleViolation
from avrr_events.problems import Forbidden as Forbidden
from avrr_events.problems import NotFound as NotFound
from avrr_events.problems import PreconditionFailed as PreconditionFailed
from avrr_events.problems import Problem as Problem
from avrr_events.problems import Unauthorized as Unauthorized
from avrr_events.refusals import ROLES_NEEDED, worded
from avrr_events.store import ConcurrencyError
from avrr_events.validation import STATED_REASON, reason_wording

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "urn:avrr:problem:"

# --------------------------------------------------------------- problems --


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response (RFC 9457)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code if code else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def validation_errors(exc: RequestValidationError, language: str = DEFAULT) -> list[dict[str, str]]:
    """Each invalid field and why, without echoing the submitted value (it may be personal);
    the why in ``language`` where it is a catalog message (avrr_events.validation), else,
    and in English, as pydantic or the code wrote it."""
    out = []
    for err in exc.errors():
        reason = str(err.get("msg", "invalid"))
        wording = reason_wording(err) if language != DEFAULT else None
        if wording is not None:
            reason = wording.in_language(language)
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            where, loc = loc[0], loc[1:]
        else:
            where = "body"
        out.append(
            {
                "in": where,
                "field": ".".join(loc) or where,
                "pointer": "/" + "/".join(loc),
                "reason": reason,
                "code": str(err.get("type", "invalid")),
            }
        )
    return out


def invalid_field(
    field: str, reason: str | Wording, *, where: str = "body"
) -> RequestValidationError:
    """A 422 naming one field, for a check the request model cannot make by itself (one that
    needs configuration, like an office id), shaped like FastAPI's own validation errors.
    ``reason`` is a ``Wording`` (``worded(N_(...), **facts)``) to be answered in the reader's
    language; a plain text (a third party's message) is answered as it is."""
    loc = (where, *field.split("."))
    if isinstance(reason, Wording):
        return RequestValidationError(
            [
                {
                    "loc": loc,
                    "msg": reason.english,
                    "type": "value_error",
                    "ctx": {STATED_REASON: reason},
                }
            ]
        )
    return RequestValidationError([{"loc": loc, "msg": reason, "type": "value_error"}])


RETRY_AFTER_SECONDS = 5


def unavailable_response(
    detail: str | Wording, *, instance: str | None = None, request: Request | None = None
) -> JSONResponse:
    """503 problem ``unavailable`` with Retry-After: nothing was changed, retry after the delay.
    A ``Wording`` detail is answered in the language ``request`` asks for."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(detail, Wording):
        if request is None:
            detail = detail.english
        else:
            detail, headers = in_readers_language(request, detail, headers)
    return problem_response(
        503,
        "Service Unavailable",
        detail,
        code="unavailable",
        instance=instance,
        headers=headers,
    )


AWAY = worded(
    N_(
        "a database or broker this service needs is not answering; nothing was changed, "
        "retry after the delay"
    )
)


def database_away(request: Request | None, exc: BaseException) -> Response:
    """503 with Retry-After: the database (or the broker) is restarting, the request was fine.

    Nothing was committed (the command's transaction failed as a whole), so a
    client may send it again, with the same Idempotency-Key.
    """
    log.warning("service unavailable: %s", type(exc).__name__)
    return unavailable_response(
        AWAY, instance=request.url.path if request is not None else None, request=request
    )


def in_readers_language(
    request: Request, wording: Wording, headers: dict[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """A problem's detail for a person: ``wording`` in the language the request asks for
    (Accept-Language), and ``headers`` with the Content-Language and Vary that say so."""
    language, said = readers_language(request, headers)
    return wording.in_language(language), said


def readers_language(
    request: Request, headers: dict[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """The language the request asks for (Accept-Language), and ``headers`` with the
    Content-Language and Vary that say an answer is in it."""
    language = choose(request.headers.get("accept-language"))
    return language, {**(headers or {}), "Content-Language": language, "Vary": "Accept-Language"}


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        detail, headers = exc.detail, exc.headers
        if exc.wording is not None:
            detail, headers = in_readers_language(request, exc.wording, headers)
        return problem_response(
            exc.status,
            exc.title,
            detail,
            code=exc.code,
            instance=request.url.path,
            headers=headers,
            **exc.extensions,
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        language, headers = readers_language(request)
        errors = validation_errors(exc, language)
        return problem_response(
            422,
            "Invalid request",
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5]),
            code="validation",
            instance=request.url.path,
            headers=headers,
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        wording = getattr(exc, "wording", None)
        if wording is None and detail == _reason(exc.status_code):
            wording = _ROUTING_REFUSALS.get(exc.status_code)  # Starlette's router: the phrase
        if isinstance(wording, Wording):
            detail, headers = in_readers_language(request, wording, headers)
        return problem_response(
            exc.status_code,
            _reason(exc.status_code),
            detail,
            instance=request.url.path,
            headers=headers,
        )

    async def on_concurrency(request: Request, exc: Exception) -> Response:
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match.strip() not in ("", "*"):
            detail, headers = in_readers_language(
                request,
                worded(
                    N_("the case changed after the version If-Match names: read it again and retry")
                ),
            )
            return problem_response(
                412,
                PreconditionFailed.title,
                detail,
                code=PreconditionFailed.code,
                instance=request.url.path,
                headers=headers,
            )
        detail, headers = in_readers_language(
            request, worded(N_("the case was changed concurrently: read it again and retry"))
        )
        return problem_response(
            409,
            "Conflict",
            detail,
            code="concurrency",
            instance=request.url.path,
            headers=headers,
        )

    async def on_unstorable(request: Request, exc: Exception) -> Response:
        if unavailable(exc):
            return database_away(request, exc)
        if not refused_value(exc):
            raise exc  # a database failure, not the request's value: the catch-all's 500
        # Its class only in the log: the message would quote the value.
        cause = getattr(exc, "orig", None) or exc
        log.info("value refused by the database (%s) in %s", type(cause).__name__, request.url.path)
        detail, headers = in_readers_language(
            request,
            worded(
                N_(
                    "a value is out of the range this service stores (an integer beyond 64 "
                    "bits, a NUL character, text too long or an impossible date)"
                )
            ),
        )
        return problem_response(
            422,
            "Invalid request",
            detail,
            code="unstorable-value",
            instance=request.url.path,
            headers=headers,
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ConcurrencyError, on_concurrency)
    for refused in (DBAPIError, OverflowError, *postgres.DATA_ERRORS):
        app.add_exception_handler(refused, on_unstorable)
    app.add_middleware(RefuseOversizedBodies)
    app.add_middleware(ContainUnhandledErrors)


MAX_BODY_BYTES = 1024 * 1024


@dataclass(eq=False)
class HttpMiddleware:
    """A plain ASGI middleware of HTTP requests (``http``); anything else (the lifespan)
    goes through untouched. Plain ASGI rather than Starlette's BaseHTTPMiddleware, which
    runs the rest of the app in another task behind memory streams."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; FastAPI lets an
    HTTPException through body parsing, so the problem handler answers it (its ``wording``
    in the reader's language)."""

    def __init__(self, limit: int) -> None:
        self.wording = worded(N_("the request body is larger than %(limit)s bytes"), limit=limit)
        super().__init__(413, self.wording.english)


_BODY_LIMIT = "avrr_max_body_bytes"


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def takes_bodies_up_to(limit: Callable[[], int]) -> Callable[[_Endpoint], _Endpoint]:
    """Let one route (a file upload) take request bodies up to ``limit()`` bytes, read at each
    request (a setting), instead of ``MAX_BODY_BYTES``; put it under the route's decorator."""

    def mark(endpoint: _Endpoint) -> _Endpoint:
        setattr(endpoint, _BODY_LIMIT, limit)
        return endpoint

    return mark


def route_body_limit(scope: Scope, default: int) -> int:
    """The body limit of the route ``scope`` goes to: its ``takes_bodies_up_to``, else
    ``default``. The first route whose method and path template match, in the app's order
    (FastAPI's included routers flattened as it routes them), decides."""
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return default
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    for route in iter_route_contexts(router.routes):
        if scope.get("method") not in (route.methods or ()) or route.path is None:
            continue
        if _path_regex(route.path).match(path):
            limit = getattr(route.endpoint, _BODY_LIMIT, None)
            return default if limit is None else max(default, int(limit()))
    return default


@functools.lru_cache(maxsize=512)
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


@dataclass(eq=False)
class RefuseOversizedBodies(HttpMiddleware):
    """413 problem for a body over ``max_bytes`` (a command is a few kilobytes), before
    it is read into memory and parsed: by its Content-Length when it declares one,
    else while it streams in.

    Not ``FastAPI(max_body_size=...)``, although the locked FastAPI 0.165 and
    Starlette 1.10 have it (Starlette 1.6, encode/starlette#3431): its limiter
    refuses a declared oversized body only when the route reads the body, and
    when the response starts it replaces it with a ``text/plain`` 413, so the
    problem+json the handlers render never reaches the client, a command route
    that reads no body runs before the client is told 413, and a Content-Length
    that is not a number passes. Measured on a FastAPI app with these handlers;
    test_problem_edges holds what this middleware keeps.
    """

    max_bytes: int = MAX_BODY_BYTES

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        # A route that takes files (``takes_bodies_up_to``) is looked up only for a body
        # over the default: commands pay nothing for it.
        limit = self.max_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            limit = route_body_limit(scope, limit)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            detail, headers = in_readers_language(Request(scope), BodyTooLarge(limit).wording)
            response = problem_response(
                413,
                "Content Too Large",
                detail,
                instance=scope.get("path"),
                headers=headers,
            )
            await response(scope, receive, send)
            return
        received = 0
        route_checked = limit != self.max_bytes

        async def limited() -> Message:
            nonlocal received, limit, route_checked
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not route_checked:
                    limit, route_checked = route_body_limit(scope, limit), True
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


def refused_value(exc: BaseException) -> bool:
    """Did the database refuse a value the request carried past validation?

    PostgreSQL's data exceptions are SQLSTATE class 22 (numeric out of range,
    NUL in text, string too long, impossible date); asyncpg reports them, and
    its own refusal of an integer beyond 64 bits, with that class. SQLite's
    driver raises OverflowError for integers beyond 64 bits.
    """
    if isinstance(exc, (OverflowError, DataError, *postgres.DATA_ERRORS)):
        return True
    # The event store appends on the driver's own connection (asyncpg errors as
    # they are); everything else comes through SQLAlchemy (the driver's in .orig).
    sqlstate = getattr(exc, "sqlstate", None) or getattr(
        getattr(exc, "orig", None), "sqlstate", None
    )
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


FRAMES_LOGGED = 12


def where_it_failed(exc: BaseException) -> str:
    """The frames an unhandled error went through, innermost last, and the errors it came from.

    Only places: a file, a line and a function per frame, and the class of each
    error in the chain. Neither the messages nor the frames' values are logged,
    since they may quote the personal data the request carried; but without the
    frames a 500 could only be diagnosed by reproducing it.
    """
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)[-FRAMES_LOGGED:]
        places = " <- ".join(
            f"{'/'.join(f.filename.split('/')[-2:])}:{f.lineno} {f.name}" for f in reversed(frames)
        )
        parts.append(f"{type(current).__name__} [{places}]")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return " from ".join(parts)


class ContainUnhandledErrors(HttpMiddleware):
    """Turn any unhandled exception into a 500 problem, logging only its class and route.

    A plain exception handler would not do: Starlette re-raises after answering
    and the server then logs the traceback, whose message may quote personal
    data. Here the exception stops, and the log gets an error id to match the
    problem the client received.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if unavailable(exc) and not started:
                log.warning("service unavailable: %s", type(exc).__name__)
                await unavailable_response(AWAY, request=Request(scope))(scope, receive, send)
                return
            error_id = str(uuid.uuid4())
            route = getattr(scope.get("route"), "path", None) or "?"
            log.error(
                "unhandled %s in %s %s (error id %s) at %s",
                type(exc).__name__,
                scope.get("method", "?"),
                route,
                error_id,
                where_it_failed(exc),
            )
            if started:  # too late for a problem response; the client sees a cut connection
                return
            detail, headers = in_readers_language(
                Request(scope),
                worded(N_("an unexpected error occurred; quote the error id when reporting it")),
            )
            response = problem_response(
                500,
                "Internal Server Error",
                detail,
                code="internal",
                headers=headers,
                error_id=error_id,
            )
            await response(scope, receive, send)


# The router's own refusals (no route, no such method on it): its detail is the phrase.
_ROUTING_REFUSALS = {
    404: worded(N_("Not Found")),
    405: worded(N_("Method Not Allowed")),
}


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# ------------------------------------------------------------ ETag/If-Match --


# ------------------------------------------------------------ authentication --


def _header_set(value: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(",") if p.strip())


async def current_principal(request: Request) -> Principal:
    """The caller: from an OIDC bearer token, or from the dev headers while dev auth is on.

    A bearer token is checked by the app's authenticator (``app.state.authenticator``,
    an ``avrr_events.web.auth.OidcAuthenticator``) whenever one is configured; the
    header stand-in is only consulted when dev auth is enabled for the app.
    """
    authorization = request.headers.get("Authorization", "")
    authenticator = getattr(request.app.state, "authenticator", None)
    if authorization[:7].lower() == "bearer " and authenticator is not None:
        try:
            principal: Principal = await authenticator.authenticate(authorization[7:].strip())
        except Unauthorized as exc:  # RFC 6750: say which scheme, and that the token failed
            exc.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
            raise
        request.state.principal = principal  # for the audit log
        return principal
    if not getattr(request.app.state, "dev_auth", False):
        raise Unauthorized(
            wording=worded(N_("a valid bearer token is required")),
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = request.headers.get("X-AVRR-User", "").strip()
    if not user:
        raise Unauthorized(
            wording=worded(N_("send X-AVRR-User (dev authentication)")),
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = Principal(
        user_id=user[:200],
        roles=_header_set(request.headers.get("X-AVRR-Roles")),
        offices=_header_set(request.headers.get("X-AVRR-Offices")),
    )
    request.state.principal = principal  # for the audit log
    return principal


def require_role(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits callers holding at least one of ``roles`` (else 403)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.has_any_role(roles):
            raise Forbidden(wording=worded(ROLES_NEEDED, roles=", ".join(roles)))
        return principal

    return dependency


# -------------------------------------------------------------- idempotency --

IDEMPOTENCY_HEADER = "Idempotency-Key"
_REPLAYED_HEADERS = ("etag", "location", "content-type")


class IdempotencyKeys:
    """Stored responses of POSTs that carried an Idempotency-Key, in the service's database.

    A command sent with a key takes effect at most once, a retry gets the
    answer of the attempt that took effect, and a retry is never stuck behind
    an attempt that died, whatever dies when:

    1. The first request reserves the key (a row without a response; its
       ``created_at`` names the attempt holding it).
    2. The command runs in one unit of work (``Database.unit_of_work``): its
       appends, and its response stored in the reservation, commit in one
       transaction. A process killed before that commit leaves no effect; after
       it, the response is there to replay. While the command runs,
       ``store.reservation`` carries the reservation: every append marks it
       committed (``committed_at``) and appends nothing if the reservation is
       no longer this attempt's. Commands that append nothing (refusals)
       leave it unmarked.
    3. A failed command (4xx, exception) releases an unmarked reservation so
       the corrected retry runs.

    A retry that finds the key:

    - with a stored response: that response, replayed (``Idempotency-Replayed``);
    - committed but without a response (only a command that wrote events and
      still answered 4xx, or a reservation stored before responses were
      committed with their effects): the command took effect and is not run
      again: a 409 problem with ``code_hint`` ``idempotency-key-applied`` and
      no Retry-After (read the resource for its state);
    - not committed and younger than ``lease`` (longer than any request
      takes): 409 "still being processed" with Retry-After;
    - not committed and older than ``lease``: the attempt holding it died
      before committing (or its release failed). The retry takes the key over
      with one conditional UPDATE (``WHERE created_at = <the old attempt's>``,
      so of two retries one wins and the other gets the 409 above) and runs
      the command. An old attempt that was only slow can no longer commit:
      its append finds the reservation at another ``created_at``, writes
      nothing and fails as a concurrency conflict.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.lease = lease

    async def run(
        self,
        request: Request,
        principal: Principal,
        command: Callable[[], Awaitable[JSONResponse]],
    ) -> Response:
        """Run ``command`` once per key; replay its stored response for retries."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return await command()
        key = key.strip()
        if not key or len(key) > 200:
            raise DomainRuleViolation(
                wording=worded(N_("Idempotency-Key must be 1 to 200 characters"))
            )
        scope = f"{principal.user_id}|{request.method}|{request.url.path}"[:300]
        # A form's bytes change with its boundary on every retry: a route that reads one
        # says what the request means instead (``request.state.idempotent_body``).
        stated = getattr(request.state, "idempotent_body", None)
        digest = _body_digest(stated if isinstance(stated, bytes) else await request.body())
        t = tables.idempotency_keys
        now = datetime.now(UTC)
        async with self.db.transaction() as conn:
            await conn.execute(delete(t).where(t.c.created_at < now - self.ttl))
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    t.insert().values(scope=scope, key=key, request_hash=digest, created_at=now)
                )
        except IntegrityError:
            replayed = await self._replay_or_take_over(scope, key, digest, now)
            if replayed is not None:
                return replayed
        held = store.reservation.set(store.Reservation(scope, key, now))
        try:
            async with self.db.unit_of_work() as conn:
                response = await command()
                if response.status_code < 400:  # stored in the transaction of its effect
                    headers = {
                        k: v for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS
                    }
                    await conn.execute(
                        update(t)
                        .where(t.c.scope == scope, t.c.key == key, t.c.created_at == now)
                        .values(
                            status=response.status_code,
                            headers=headers,
                            body=json.loads(bytes(response.body)) if response.body else None,
                        )
                    )
        except BaseException:
            await self._release(scope, key, now)  # nothing was committed: a retry runs it
            raise
        finally:
            store.reservation.reset(held)
        if response.status_code >= 400:
            await self._release(scope, key, now)  # nothing happened: a retry may run again
        return response

    async def _replay_or_take_over(
        self, scope: str, key: str, digest: str, now: datetime
    ) -> Response | None:
        """The answer to a retry of a reserved key; None once this request has taken it over."""
        t = tables.idempotency_keys
        async with self.db.autocommit() as conn:
            row = (await conn.execute(select(t).where(t.c.scope == scope, t.c.key == key))).first()
        if row is None:  # released between our insert and this read: ask for a retry
            raise Conflict(
                wording=worded(N_("a request with this Idempotency-Key just failed; retry it"))
            )
        if row.request_hash != digest:
            raise DomainRuleViolation(
                wording=worded(
                    N_("this Idempotency-Key was already used with a different request body")
                ),
                code_hint="idempotency-key-reused",
            )
        if row.status is not None:
            headers = dict(row.headers or {})
            headers["Idempotency-Replayed"] = "true"
            media = headers.pop("content-type", "application/json")
            return JSONResponse(row.body, status_code=row.status, headers=headers, media_type=media)
        if row.committed_at is not None:
            raise Conflict(
                wording=worded(
                    N_(
                        "the request with this Idempotency-Key was applied, but its response was "
                        "lost; it is not run again: read the resource for its current state"
                    )
                ),
                code_hint="idempotency-key-applied",
            )
        taken_at = row.created_at
        if taken_at.tzinfo is None:  # SQLite keeps no zone; every value written is UTC
            taken_at = taken_at.replace(tzinfo=UTC)
        if now - taken_at >= self.lease:
            async with self.db.transaction() as conn:
                took = await conn.execute(
                    update(t)
                    .where(
                        t.c.scope == scope,
                        t.c.key == key,
                        t.c.created_at == row.created_at,
                        t.c.status.is_(None),
                        t.c.committed_at.is_(None),
                    )
                    .values(created_at=now)
                )
            if took.rowcount == 1:
                return None
        raise Conflict(
            wording=worded(N_("a request with this Idempotency-Key is still being processed")),
            headers={"Retry-After": "1"},
        )

    async def _release(self, scope: str, key: str, taken_at: datetime) -> bool:
        """Free this attempt's reservation unless its command committed; True if freed.

        A release that fails (the database is away) leaves the reservation to
        its lease: a retry after it takes the key over.
        """
        t = tables.idempotency_keys
        try:
            async with self.db.transaction() as conn:
                result = await conn.execute(
                    delete(t).where(
                        t.c.scope == scope,
                        t.c.key == key,
                        t.c.created_at == taken_at,
                        t.c.committed_at.is_(None),
                    )
                )
        except Exception as exc:  # the command's own error is the one to report
            log.warning("could not release an Idempotency-Key reservation: %s", type(exc).__name__)
            return False
        return bool(result.rowcount)


def _body_digest(body: bytes) -> str:
    """SHA-256 of the body, canonicalised when it is JSON (key order and spacing do not count)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (UnicodeDecodeError, json.JSONDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()
