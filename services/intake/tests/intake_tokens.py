"""Bearer JWTs for intake's tests: a test issuer the running service trusts (its JWKS served
in-process), so a test calls the API the production way, with real signed tokens."""

from __future__ import annotations

from avrr_events.web.auth import DevTokenIssuer

ISSUER = DevTokenIssuer()


def bearer(user: str, role: str, *offices: str) -> dict[str, str]:
    """The Authorization header of ``user`` with ``role`` in ``offices`` (``*``: headquarters)."""
    return {"Authorization": "Bearer " + ISSUER.issue(user, [role], offices)}
