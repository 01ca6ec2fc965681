"""OIDC bearer tokens: JWT validation against an issuer's JWKS, and a development issuer.

Production: every request carries ``Authorization: Bearer <JWT>`` from the
organisation's OIDC provider. ``OidcAuthenticator`` checks signature (keys from
the issuer's JWKS, cached; an unknown ``kid`` triggers one refetch so key
rotation needs no restart), issuer, audience and expiry, and maps claims to a
``Principal`` (roles, offices). Whatever a token says about itself (its ``alg``,
its ``kid``) is untrusted input: a header that does not fit the key it names is
a 401, and no header can make the service hammer the issuer (refetches are
single-flight and cool down, successful or not). ``DevTokenIssuer`` signs such tokens with a key
of its own for the embedded default and tests: it is never on unless enabled
explicitly.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from avrr_events.notices.catalogs import N_
from avrr_events.refusals import worded
from avrr_events.web.http import Principal, Unauthorized

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


#: The JWS algorithms each kind of JWK can verify (RFC 7518 section 3.1): a
#: token is verified only with an algorithm of its key's kind, so an RSA key
#: can never be used as an HMAC secret or handed to the EC verifier.
ALGORITHMS_OF_KEY_TYPE: dict[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}
_ALGORITHM_OF_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


def algorithms_of(jwk: dict[str, Any]) -> frozenset[str]:
    """The algorithms a JWK may verify: its own ``alg`` if it has one, else its kind's (curve's)."""
    kind = ALGORITHMS_OF_KEY_TYPE.get(str(jwk.get("kty")), frozenset())
    if "alg" in jwk:
        return kind & {str(jwk["alg"])}
    curve = _ALGORITHM_OF_CURVE.get(str(jwk.get("crv")))
    return kind & {curve} if curve else kind


@dataclass(eq=False, kw_only=True)
class OidcAuthenticator:
    """Validates bearer JWTs of one issuer and audience.

    JWKS fetches are single-flight (concurrent requests that need a fetch wait
    for one) and cool down for ``refetch_after`` seconds after every attempt,
    successful or not: within that window a ``kid`` the last fetch did not
    contain is refused from memory (negative cache), and an issuer that fails
    is not asked again on every request. Keys are refreshed once older than
    ``cache_seconds``; if that fails, the keys already held stay in use.
    """

    issuer: str
    audience: str
    fetch_jwks: JwksFetcher
    algorithms: frozenset[str] = frozenset(("RS256", "ES256"))
    cache_seconds: float = 600.0
    refetch_after: float = 30.0
    leeway: float = 30.0
    roles_claim: str = "roles"
    offices_claim: str = "offices"
    clock: Callable[[], float] = time.monotonic
    fetches: int = field(default=0, init=False)
    # The state of the key cache: not arguments, and not shown.
    _keys: dict[str, tuple[Any, frozenset[str]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _fetched_at: float = field(default=float("-inf"), init=False, repr=False)  # last success
    # The last fetch, successful or not.
    _attempted_at: float = field(default=float("-inf"), init=False, repr=False)
    _last_error: Exception | None = field(default=None, init=False, repr=False)
    _refreshing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.algorithms = frozenset(self.algorithms)  # any iterable of names, as given

    async def _refresh(self) -> None:
        self.fetches += 1
        self._attempted_at = self.clock()
        try:
            jwks = await self.fetch_jwks()
        except Exception as exc:  # the issuer is away: keep what we had, say why
            self._last_error = exc
            return
        keys: dict[str, tuple[Any, frozenset[str]]] = {}
        for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
            if not isinstance(jwk, dict):
                continue
            kid = jwk.get("kid")
            fits = algorithms_of(jwk) & self.algorithms
            if not (isinstance(kid, str) and kid and fits and jwk.get("use", "sig") == "sig"):
                continue
            try:  # one key the library cannot read must not take the others down
                keys[kid] = (jwt.PyJWK.from_dict(jwk).key, fits)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue
        self._keys = keys
        self._fetched_at = self._attempted_at
        self._last_error = None

    def _needs_fetch(self, kid: str) -> bool:
        now = self.clock()
        if now - self._attempted_at < self.refetch_after:
            return False  # cooling down: answer from what the last attempt gave
        return kid not in self._keys or now - self._fetched_at > self.cache_seconds

    async def _key(self, kid: str) -> tuple[Any, frozenset[str]]:
        in_flight = self._refreshing.locked()
        if (in_flight and kid not in self._keys) or (not in_flight and self._needs_fetch(kid)):
            async with self._refreshing:  # single flight: the others wait for this fetch
                if self._needs_fetch(kid):
                    await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if not self._keys and self._last_error is not None:
            raise Unauthorized(
                wording=worded(
                    N_("cannot fetch the issuer's signing keys: %(reason)s"),
                    reason=str(self._last_error),
                )
            )
        raise Unauthorized(wording=worded(N_("token signed with an unknown key")))

    async def authenticate(self, token: str) -> Principal:
        """The principal of a valid token; Unauthorized (401) with the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(
                wording=worded(N_("malformed token: %(reason)s"), reason=str(exc))
            ) from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthorized(
                wording=worded(
                    N_("invalid token: algorithm %(algorithm)s is not accepted"),
                    algorithm=repr(alg),
                )
            )
        key, fits = await self._key(str(header.get("kid", "")))
        if alg not in fits:
            raise Unauthorized(
                wording=worded(
                    N_("invalid token: algorithm %(algorithm)s does not fit its key"),
                    algorithm=repr(alg),
                )
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(wording=worded(N_("token expired"))) from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            # ValueError/TypeError: what the crypto layer raises for input it
            # cannot even parse; a token is never a reason for a 500.
            raise Unauthorized(
                wording=worded(N_("invalid token: %(reason)s"), reason=str(exc))
            ) from exc
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

    def retire(self, kid: str) -> None:
        """Stop publishing a key that no longer signs (the last step of a rotation)."""
        if kid == self._keys[-1][0]:
            raise ValueError("the key that signs cannot be retired: rotate first")
        self._keys = [(k, private) for k, private in self._keys if k != kid]

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
