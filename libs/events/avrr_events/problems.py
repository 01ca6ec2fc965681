"""What a command or a query can refuse, as the API reports it: problem details (RFC 9457).

Defined here, without a web framework, so that aggregates and command objects
refuse in the API's own terms (``DomainRuleViolation``, ``NotFound``,
``Conflict``, ...) and one place, ``avrr_events.web.http.install_problem_handlers``,
turns every refusal into ``application/problem+json``. A service's own
refusals subclass these, so no route maps errors by hand.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avrr_events.notices.wording import Wording


# The members of a problem detail itself (RFC 9457), which no extension may be named after.
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})


class Problem(Exception):
    """An error the API reports as a problem detail; subclasses fix status and type.

    A subclass names them in its header, ``class NotFound(Problem, status=404,
    code="not-found")``; its title is the status's reason phrase unless it says
    another. (Subclasses of those inherit all three.)
    """

    status = 500
    title = "Internal Server Error"
    code = "internal"

    def __init_subclass__(
        cls, *, status: int | None = None, code: str | None = None, title: str | None = None
    ) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status = status
            cls.title = title or HTTPStatus(status).phrase
        elif title is not None:
            cls.title = title
        if code is not None:
            cls.code = code

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        wording: Wording | None = None,
        **extensions: Any,
    ) -> None:
        """``wording``: the detail as a catalog message, answered in the reader's language
        (Accept-Language); ``detail`` is then its English unless given."""
        if reserved := RESERVED_MEMBERS.intersection(extensions):
            # problem+json's own members: an extension so named would replace the HTTP
            # status (or the type, the title...) of the answer, or fail rendering it.
            raise TypeError(f"a problem's extension may not be named {sorted(reserved)}")
        if detail is None and wording is not None:
            detail = wording.english
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.wording = wording
        self.extensions = extensions


class DomainRuleViolation(Problem, status=422, code="domain-rule", title="Domain rule violated"):
    """A command the case's current state does not allow (422, with a clear detail)."""


class NotFound(Problem, status=404, code="not-found"):
    """What the request names does not exist (or is not the caller's to see)."""


class PreconditionFailed(Problem, status=412, code="precondition-failed"):
    """If-Match named a version the resource is no longer at."""


class Conflict(Problem, status=409, code="conflict"):
    """The request contradicts what another one did first."""


class Unauthorized(Problem, status=401, code="unauthorized"):
    """No credentials, or credentials that do not hold."""


class Forbidden(Problem, status=403, code="forbidden"):
    """The caller is known but may not do this."""


class Gone(Problem, status=410, code="gone"):
    """What existed is withdrawn for good (a key released only while a consent stands)."""


class Unavailable(Problem, status=503, code="unavailable"):
    """Not now: a precondition outside the request failed (an audit that could not be written)."""
