"""OIDC bearer tokens: valid, expired, forged, for someone else, after key rotation,
with an ``alg`` that does not fit the key, and what they make the service ask the issuer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Annotated

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI
from jwt.algorithms import ECAlgorithm

from avrr_events.testing import DocumentServer
from avrr_events.web.auth import DevTokenIssuer, OidcAuthenticator, http_jwks_fetcher
from avrr_events.web.http import (
    Principal,
    Unauthorized,
    current_principal,
    install_problem_handlers,
)


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


# ------------------------------------------------ a token that does not fit --


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged(header: dict[str, object], payload: dict[str, object], sign: object) -> str:
    """A compact JWS with any header (PyJWT refuses to write some of these on purpose)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if callable(sign) else b"\x00" * 64
    return f"{signing_input}.{_b64(signature)}"


def _claims(issuer: DevTokenIssuer) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "eve",
        "iat": now,
        "exp": now + 600,
    }


class TwoKindIssuer(DevTokenIssuer):
    """Publishes an RSA key (alg RS256) and an EC P-256 key (no alg) in its JWKS."""

    def __init__(self) -> None:
        super().__init__()
        self.ec_kid = "ec-" + uuid.uuid4().hex[:8]
        self.ec_private = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, object]:
        jwk: dict[str, object] = ECAlgorithm.to_jwk(self.ec_private.public_key(), as_dict=True)
        keys = super().jwks()["keys"]
        return {"keys": [*keys, {**jwk, "kid": self.ec_kid, "use": "sig"}]}


def mismatched_tokens(issuer: TwoKindIssuer) -> dict[str, str]:
    """Tokens whose ``alg`` does not fit the key their ``kid`` names."""
    rsa_kid, rsa_private = issuer._keys[-1]
    rsa_public_pem = rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = _claims(issuer)
    return {
        # the classic confusion: the RSA public key (public!) used as an HMAC secret
        "HS256-with-the-RSA-public-key": _forged(
            {"alg": "HS256", "kid": rsa_kid, "typ": "JWT"},
            claims,
            lambda data: hmac.new(rsa_public_pem, data, hashlib.sha256).digest(),
        ),
        "ES256-against-the-RSA-key": jwt.encode(
            claims, issuer.ec_private, algorithm="ES256", headers={"kid": rsa_kid}
        ),
        "ES256-garbage-against-the-RSA-key": _forged(
            {"alg": "ES256", "kid": rsa_kid}, claims, None
        ),
        "PS256-against-an-RS256-only-key": jwt.encode(
            claims, rsa_private, algorithm="PS256", headers={"kid": rsa_kid}
        ),
        "RS256-against-the-EC-key": jwt.encode(
            claims, rsa_private, algorithm="RS256", headers={"kid": issuer.ec_kid}
        ),
        "ES384-against-the-P-256-key": _forged(
            {"alg": "ES384", "kid": issuer.ec_kid}, claims, None
        ),
        "alg-none": _forged({"alg": "none", "kid": rsa_kid}, claims, lambda data: b""),
        "alg-missing": _forged({"kid": rsa_kid}, claims, None),
    }


@pytest.mark.parametrize(
    "algorithms",
    [("RS256", "ES256"), ("RS256", "PS256", "ES256", "ES384", "HS256")],
    ids=["default-algorithms", "permissive-algorithms"],
)
async def test_a_token_whose_alg_does_not_fit_its_key_gets_401_problem_never_500(
    algorithms: tuple[str, ...],
) -> None:
    issuer = TwoKindIssuer()
    authenticator = issuer.authenticator()
    authenticator.algorithms = frozenset(algorithms)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.authenticator = authenticator

    @app.get("/whoami")
    async def whoami(principal: Annotated[Principal, Depends(current_principal)]) -> str:
        return principal.user_id

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        good = jwt.encode(
            _claims(issuer), issuer.ec_private, algorithm="ES256", headers={"kid": issuer.ec_kid}
        )
        assert (
            await client.get("/whoami", headers={"Authorization": f"Bearer {good}"})
        ).json() == ("eve"), (
            "the EC key does verify an ES256 token: the refusals below are about the fit"
        )
        for name, token in mismatched_tokens(issuer).items():
            response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (name, response.text)
            assert response.headers["content-type"].startswith("application/problem+json"), name


# ---------------------------------------- JWKS over HTTP: single flight ------


class JwksServer(DocumentServer):
    """The issuer's metadata and JWKS over real HTTP on 127.0.0.1, counting JWKS fetches."""

    def __init__(self, issuer: DevTokenIssuer, *, delay: float = 0.2) -> None:
        self.issuer = issuer
        self.delay = delay  # the fetch must be slow enough for requests to pile up on it
        self.failing = False
        self.jwks_fetches = 0
        self._count = threading.Lock()
        super().__init__(self._answer)

    def _answer(self, path: str) -> tuple[int, object]:
        if path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.issuer.issuer, "jwks_uri": f"{self.url}/jwks"}
        with self._count:
            self.jwks_fetches += 1
        time.sleep(self.delay)
        if self.failing:
            return 503, {"error": "down"}
        return 200, self.issuer.jwks()


class Clock:
    """A monotonic clock the test moves, so cool-downs are tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer(DevTokenIssuer(issuer="urn:avrr:test-issuer"))
    yield server
    server.close()


def http_authenticator(server: JwksServer, clock: Clock) -> OidcAuthenticator:
    authenticator = OidcAuthenticator(
        issuer=server.issuer.issuer,
        audience=server.issuer.audience,
        fetch_jwks=http_jwks_fetcher(server.url),  # discovers /jwks from the metadata
    )
    authenticator.clock = clock
    return authenticator


async def test_concurrent_requests_with_an_unknown_kid_cause_one_jwks_fetch_then_none_until_cool(
    jwks_server: JwksServer,
) -> None:
    clock = Clock()
    authenticator = http_authenticator(jwks_server, clock)
    stranger = DevTokenIssuer(issuer=jwks_server.issuer.issuer).issue("eve")

    async def refused() -> str:
        with pytest.raises(Unauthorized) as caught:
            await authenticator.authenticate(stranger)
        return str(caught.value.detail)

    reasons = await asyncio.gather(*(refused() for _ in range(20)))
    assert all("unknown key" in reason for reason in reasons), reasons
    assert jwks_server.jwks_fetches == 1, "single flight: 20 concurrent misses, one fetch"

    clock.now += authenticator.refetch_after / 2
    await asyncio.gather(*(refused() for _ in range(20)))
    assert jwks_server.jwks_fetches == 1, "negative cache: the kid is refused from memory"

    clock.now += authenticator.refetch_after
    await asyncio.gather(*(refused() for _ in range(5)))
    assert jwks_server.jwks_fetches == 2, "after the cool-down, one refetch (key rotation)"

    principal = await authenticator.authenticate(jwks_server.issuer.issue("ana"))
    assert principal.user_id == "ana"
    assert jwks_server.jwks_fetches == 2, "a known kid needs no fetch"


async def test_a_cold_start_under_load_fetches_the_jwks_once(jwks_server: JwksServer) -> None:
    authenticator = http_authenticator(jwks_server, Clock())
    tokens = [jwks_server.issuer.issue(f"user-{n}") for n in range(20)]
    principals = await asyncio.gather(*(authenticator.authenticate(t) for t in tokens))
    assert [p.user_id for p in principals] == [f"user-{n}" for n in range(20)]
    assert jwks_server.jwks_fetches == 1


async def test_an_issuer_that_fails_is_not_asked_again_on_every_request(
    jwks_server: JwksServer,
) -> None:
    clock = Clock()
    authenticator = http_authenticator(jwks_server, clock)
    jwks_server.failing = True
    token = jwks_server.issuer.issue("ana")
    for _ in range(10):
        with pytest.raises(Unauthorized, match="cannot fetch the issuer's signing keys"):
            await authenticator.authenticate(token)
    assert jwks_server.jwks_fetches == 1, "a failed fetch cools down like a successful one"

    jwks_server.failing = False
    clock.now += authenticator.refetch_after
    assert (await authenticator.authenticate(token)).user_id == "ana"
    assert jwks_server.jwks_fetches == 2

    clock.now += authenticator.cache_seconds + 1
    jwks_server.failing = True
    for _ in range(10):  # stale keys are kept while the issuer is away, and it is asked once
        assert (await authenticator.authenticate(token)).user_id == "ana"
    assert jwks_server.jwks_fetches == 3
