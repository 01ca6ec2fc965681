"""The request middleware every service app has: an external path prefix, and
timing, logging and auditing of every request (``ObservedRequests``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from avrr_events import logs
from avrr_events.notices.catalogs import N_
from avrr_events.refusals import worded
from avrr_events.tracing import request_from_caller
from avrr_events.web.authorization import Policy, Rule
from avrr_events.web.http import (
    HttpMiddleware,
    problem_response,
    unavailable_response,
)

if TYPE_CHECKING:
    from avrr_events.audit import AuditLog
    from avrr_events.metrics import ServiceMetrics

log = logging.getLogger(__name__)


class Observed(Protocol):
    """What ``ObservedRequests`` reads of its service (``web.service.ServiceRuntime``)."""

    name: str
    metrics: ServiceMetrics
    audit: AuditLog


# What a browser frontend may send and read across origins (ARCHITECTURE §6).
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "Idempotency-Key",
    "traceparent",
    "Accept-Language",
)
CORS_RESPONSE_HEADERS = ("ETag", "Location", "Retry-After", "Idempotency-Replayed")


class ExternalPrefix:
    """Serve ``/<prefix>/...`` as ``/...``: one host, a path per service, no proxy rewrites.

    An Ingress or Gateway route sends ``/intake/cases`` to intake's Service as
    it is; the embedded default mounts the same paths. Probes and metrics stay
    reachable only without the prefix (from the kubelet and the scraper, inside
    the cluster), so nothing routed from outside ever reaches them.
    """

    INTERNAL = ("/health", "/metrics")

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            inner = path[len(self.prefix) :] or "/"
            if inner.startswith(self.INTERNAL):
                response = problem_response(404, "Not Found", "not served through the gateway")
                await response(scope, receive, send)
                return
            # As a Mount does: the path keeps the prefix, the root path names it.
            scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
        await self.app(scope, receive, send)


@dataclass(eq=False)
class ObservedRequests(HttpMiddleware):
    """Time and log every request; audit every read and write of personal data.

    Audited: every request of a route about one case (a ``case_id`` in its
    path), and of a route whose rule is scoped to offices, to the caller's own
    records or to a check of the route's own (``office``, ``own``,
    ``handler``: lists of cases such as queues, departures, manifests and
    overdue lists; a referral that opens a case).
    A list's entry names no case; a write that created one names the case id
    of its response. The response is held back until its audit entry is
    durable: a read that cannot be audited is answered 503, never delivered
    unaudited. Plain ASGI rather than ``@app.middleware("http")``: Starlette's
    BaseHTTPMiddleware runs the rest of the app in another task behind memory
    streams, a cost every request paid. (Server spans come from FastAPI's own
    OpenTelemetry instrumentation; a command continues its case's trace unless
    the caller sent one.)
    """

    runtime: Observed

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        status = 500
        held: list[Message] = []

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self._audited(scope) is not None:
                    held.append(message)
                    return
            elif held:
                held.append(message)
                if message.get("more_body", False):
                    return
                await self._audit_then_send(scope, status, held, send)
                held.clear()
                return
            await send(message)

        with (
            logs.service_context(self.runtime.name),
            request_from_caller(_header(scope, b"traceparent")),
        ):
            await self.app(scope, receive, observed_send)
            template = getattr(scope.get("route"), "path", "unmatched")
            if not template.startswith(("/health", "/metrics")):
                # The route's template, not the path: no ids, no query string.
                log.info(
                    "%s %s %d",
                    method,
                    template,
                    status,
                    extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)},
                )
        self.runtime.metrics.observe_request(method, template, status, started)

    @staticmethod
    def _audited(scope: Scope) -> tuple[str | None, Any] | None:
        """(case id or None, principal) when this request touches personal data, else None."""
        principal = scope.get("state", {}).get("principal")
        if principal is None:
            return None
        case_id = scope.get("path_params", {}).get("case_id")
        if case_id is not None:
            return str(case_id), principal
        app = scope.get("app")
        policy: Policy | None = getattr(getattr(app, "state", None), "policy", None)
        template = getattr(scope.get("route"), "path", None)
        if policy is None or template is None:
            return None
        rule = policy.rule(scope["method"], template)
        return (None, principal) if rule is not None and audited_route(template, rule) else None

    async def _audit_then_send(
        self, scope: Scope, status: int, held: list[Message], send: Send
    ) -> None:
        audited = self._audited(scope)
        assert audited is not None
        case_id, principal = audited
        if case_id is None and scope["method"] not in ("GET", "HEAD"):
            case_id = _created_case(held)
        method = scope["method"]
        template = getattr(scope.get("route"), "path", "unmatched")
        client = scope.get("client")
        try:
            await self.runtime.audit.record(
                actor=principal.user_id,
                action="read" if method in ("GET", "HEAD") else "write",
                route=f"{method} {template}",
                outcome=status,
                case_id=case_id,
                client=client[0] if client else None,
            )
        except Exception as exc:
            log.error("audit entry not recorded: %s", logs.error_text(exc))
            refusal = unavailable_response(
                worded(N_("the access could not be audited; try again")), request=Request(scope)
            )
            await refusal(scope, _no_body, send)
            return
        for message in held:
            await send(message)


def audited_route(template: str, rule: Rule) -> bool:
    """Whether calls of a route are audited: it is about one case (``{case_id}``), or its
    rule reaches into offices' cases (lists), the caller's own records or a check of the
    route's own (a referral that opens a case, a disclosure key)."""
    return "{case_id}" in template or rule.scope in ("office", "own", "handler")


def _created_case(held: list[Message]) -> str | None:
    """The ``case_id`` of a JSON object response (a command that opened a case), if any."""
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    if not body.startswith(b"{"):
        return None
    with contextlib.suppress(ValueError):
        found = json.loads(body).get("case_id")
        if isinstance(found, str):
            return found
    return None


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None
