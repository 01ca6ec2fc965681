"""OIDC bearer tokens: JWT validation against an issuer's JWKS, and a development issuer.

Production: every request carries ``Authorization: Bearer <JWT>`` from the
organisation's OIDC provider. ``OidcAuthenticator`` checks signature (keys from
the issuer's JWKS, cached; an unknown ``kid`` triggers one refetch so key
rotation needs no restart), issuer, audience and expiry, and maps claims to a
``Principal`` (roles, offices). ``DevTokenIssuer`` signs such tokens with a key
of its own for the embedded default and tests: it is never on unless enabled
explicitly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from avrr_events.http import Principal, Unauthorized

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


def http_jwks_fetcher(issuer: str, jwks_url: str | None = None) -> JwksFetcher:
    """Fetch the JWKS over HTTPS, discovering its URL from the issuer's metadata if not given."""
    import httpx

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            url = jwks_url
            if url is None:
                meta = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
                meta.raise_for_status()
                url = str(meta.json()["jwks_uri"])
            response = await client.get(url)
            response.raise_for_status()
            keys: dict[str, Any] = response.json()
            return keys

    return fetch


class OidcAuthenticator:
    """Validates bearer JWTs of one issuer and audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        fetch_jwks: JwksFetcher,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        cache_seconds: float = 600.0,
        refetch_after: float = 30.0,
        leeway: float = 30.0,
        roles_claim: str = "roles",
        offices_claim: str = "offices",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.fetch_jwks = fetch_jwks
        self.algorithms = list(algorithms)
        self.cache_seconds = cache_seconds
        self.refetch_after = refetch_after
        self.leeway = leeway
        self.roles_claim = roles_claim
        self.offices_claim = offices_claim
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self.fetches = 0

    async def _refresh(self) -> None:
        jwks = await self.fetch_jwks()
        keys: dict[str, Any] = {}
        for jwk in jwks.get("keys", []):
            kid = jwk.get("kid")
            if kid and jwk.get("use", "sig") == "sig":
                keys[kid] = jwt.PyJWK.from_dict(jwk).key
        self._keys = keys
        self._fetched_at = time.monotonic()
        self.fetches += 1

    async def _key(self, kid: str) -> Any:
        age = time.monotonic() - self._fetched_at
        if age > self.cache_seconds or (kid not in self._keys and age > self.refetch_after):
            try:
                await self._refresh()
            except Exception as exc:  # the issuer is away: keep what we had
                if not self._keys:
                    raise Unauthorized(f"cannot fetch the issuer's signing keys: {exc}") from exc
        if kid not in self._keys:
            raise Unauthorized("token signed with an unknown key")
        return self._keys[kid]

    async def authenticate(self, token: str) -> Principal:
        """The principal of a valid token; Unauthorized (401) with the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}") from exc
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return Principal(
            user_id=str(claims["sub"]),
            roles=frozenset(_strings(claims.get(self.roles_claim))),
            offices=frozenset(_strings(claims.get(self.offices_claim))),
        )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


class DevTokenIssuer:
    """Signs development tokens (RS256) and publishes its JWKS. Never for real data."""

    def __init__(self, issuer: str = "urn:avrr:dev-issuer", audience: str = "avrr") -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.rotate()

    def rotate(self) -> str:
        """Start signing with a new key (the old one stays published); return its kid."""
        kid = uuid.uuid4().hex[:16]
        self._keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, private in self._keys:
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def issue(
        self,
        user: str,
        roles: Iterable[str] = (),
        offices: Iterable[str] = (),
        *,
        ttl: float = 3600.0,
        **claims: Any,
    ) -> str:
        kid, private = self._keys[-1]
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user,
            "iat": now,
            "exp": now + int(ttl),
            "roles": list(roles),
            "offices": list(offices),
            **claims,
        }
        return jwt.encode(payload, private, algorithm="RS256", headers={"kid": kid})

    def authenticator(self) -> OidcAuthenticator:
        """An authenticator that trusts this issuer (fetching its JWKS in-process)."""

        async def fetch() -> dict[str, Any]:
            return self.jwks()

        return OidcAuthenticator(issuer=self.issuer, audience=self.audience, fetch_jwks=fetch)
