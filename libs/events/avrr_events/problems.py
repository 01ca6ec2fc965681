"""What a command or a query can refuse, as the API reports it: problem details (RFC 9457).

Defined here, without a web framework, so that aggregates and command objects
refuse in the API's own terms (``DomainRuleViolation``, ``NotFound``,
``Conflict``, ...) and one place, ``avrr_events.web.http.install_problem_handlers``,
turns every refusal into ``application/problem+json``. A service's own
refusals subclass these, so no route maps errors by hand.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """An error the API reports as a problem detail; subclasses fix status and type."""

    status = 500
    title = "Internal Server Error"
    code = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class DomainRuleViolation(Problem):
    """A command the case's current state does not allow (422, with a clear detail)."""

    status = 422
    title = "Domain rule violated"
    code = "domain-rule"


class NotFound(Problem):
    status = 404
    title = "Not Found"
    code = "not-found"


class PreconditionFailed(Problem):
    """If-Match named a version the resource is no longer at."""

    status = 412
    title = "Precondition Failed"
    code = "precondition-failed"


class Conflict(Problem):
    status = 409
    title = "Conflict"
    code = "conflict"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"
    code = "unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"
    code = "forbidden"


class Gone(Problem):
    """What existed is withdrawn for good (a key released only while a consent stands)."""

    status = 410
    title = "Gone"
    code = "gone"


class Unavailable(Problem):
    """Not now: a precondition outside the request failed (an audit that could not be written)."""

    status = 503
    title = "Service Unavailable"
    code = "unavailable"
