"""OIDC bearer tokens: valid, expired, forged, for someone else, and after key rotation."""

from __future__ import annotations

import pytest

from avrr_events.auth import DevTokenIssuer, OidcAuthenticator
from avrr_events.http import Unauthorized


async def test_a_valid_token_gives_the_principal_with_roles_and_offices() -> None:
    issuer = DevTokenIssuer()
    token = issuer.issue("ana", roles=["caseworker"], offices=["GT-GUA", "MX-TAP"])
    principal = await issuer.authenticator().authenticate(token)
    assert principal.user_id == "ana"
    assert principal.roles == {"caseworker"}
    assert principal.offices == {"GT-GUA", "MX-TAP"}


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda i, o: i.issue("ana", ttl=-120), "expired"),
        (lambda i, o: o.issue("ana"), "unknown key"),
        (lambda i, o: DevTokenIssuer(issuer=i.issuer, audience="other").issue("ana"), "key"),
        (lambda i, o: "not-a-jwt", "malformed"),
        (lambda i, o: i.issue("ana")[:-6] + "AAAAAA", "invalid"),
    ],
    ids=["expired", "signed-by-another-key", "other-audience", "garbage", "tampered"],
)
async def test_bad_tokens_are_refused_with_the_reason(make_token: object, reason: str) -> None:
    issuer, other = DevTokenIssuer(), DevTokenIssuer()
    authenticator = issuer.authenticator()
    authenticator.refetch_after = 0
    with pytest.raises(Unauthorized, match=reason):
        await authenticator.authenticate(make_token(issuer, other))  # type: ignore[operator]


async def test_wrong_audience_with_a_trusted_key_is_refused() -> None:
    issuer = DevTokenIssuer()
    token = issuer.issue("ana", aud="someone-else")
    with pytest.raises(Unauthorized, match=r"(?i)audience"):
        await issuer.authenticator().authenticate(token)


async def test_key_rotation_is_picked_up_without_restart_and_keys_are_cached() -> None:
    issuer = DevTokenIssuer()
    authenticator: OidcAuthenticator = issuer.authenticator()
    authenticator.refetch_after = 0
    for _ in range(3):
        await authenticator.authenticate(issuer.issue("ana"))
    assert authenticator.fetches == 1, "keys are cached"
    issuer.rotate()
    principal = await authenticator.authenticate(issuer.issue("ben"))
    assert principal.user_id == "ben"
    assert authenticator.fetches == 2, "an unknown kid triggers one refetch"
