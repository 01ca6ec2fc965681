"""The refusals every service shares, worded in the reader's language (issue 19).

The command shape (If-Match, Idempotency-Key), authentication and the
authorization policy refuse in every service alike, so their sentences are
messages of the library's own catalog (domain ``avrr_events``, in
``avrr_events/locale``), as the promises of the notices are: a person reading a
412, a 409 or a 403 reads it in the language they asked for (Accept-Language),
and the English is the detail it always was. Each refusal is written where it
is raised (``N_``-marked, facts by name); a sentence raised in two places is
here.
"""

from __future__ import annotations

from avrr_events.notices.catalogs import N_
from avrr_events.notices.rights import DOMAIN
from avrr_events.notices.wording import Wording

# A route's roles: the policy's check (web.authorization) and require_role (web.http).
ROLES_NEEDED = N_("this action needs one of the roles: %(roles)s")


def worded(message: str, **facts: object) -> Wording:
    """A library sentence for a person (a refusal's detail), worded in the reader's
    language when answered; ``message`` is ``N_``-marked where it is written."""
    return Wording(DOMAIN, message, facts)
