"""Who may call: bearer tokens of the configured issuer, dev headers only when enabled."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from avrr_events.web.auth import DevTokenIssuer
from avrr_events.web.http import Principal, install_problem_handlers, require_role


def app_with(issuer: DevTokenIssuer | None, *, dev_auth: bool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.dev_auth = dev_auth
    if issuer is not None:
        app.state.authenticator = issuer.authenticator()

    @app.post("/erasure")
    async def erase(
        principal: Annotated[Principal, Depends(require_role("data_protection_officer"))],
    ) -> dict[str, str]:
        return {"by": principal.user_id}

    return app


async def call(app: FastAPI, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/erasure", headers=headers)


async def test_a_bearer_token_with_the_role_is_admitted() -> None:
    issuer = DevTokenIssuer()
    token = issuer.issue("dpo-1", roles=["data_protection_officer"])
    response = await call(app_with(issuer, dev_auth=False), {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"by": "dpo-1"}


async def test_missing_bad_or_expired_tokens_get_401_problem_and_wrong_roles_403() -> None:
    issuer = DevTokenIssuer()
    app = app_with(issuer, dev_auth=False)
    expired = issuer.issue("dpo-1", roles=["data_protection_officer"], ttl=-300)
    caseworker = issuer.issue("cw-1", roles=["caseworker"])
    cases = [
        ({}, 401),
        ({"Authorization": "Bearer nonsense"}, 401),
        ({"Authorization": f"Bearer {expired}"}, 401),
        ({"X-AVRR-User": "x", "X-AVRR-Roles": "data_protection_officer"}, 401),
        ({"Authorization": f"Bearer {caseworker}"}, 403),
    ]
    for headers, status in cases:
        response = await call(app, headers)
        assert response.status_code == status, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_dev_headers_work_only_where_dev_auth_is_enabled() -> None:
    headers = {"X-AVRR-User": "dev", "X-AVRR-Roles": "data_protection_officer"}
    assert (await call(app_with(None, dev_auth=True), headers)).status_code == 200
    assert (await call(app_with(None, dev_auth=False), headers)).status_code == 401


def test_header_authentication_is_refused_where_real_data_may_be() -> None:
    """AVRR_DEV (or AVRR_DEV_AUTH) with a PostgreSQL database or an OIDC issuer stops the start."""
    from avrr_events.settings import ServiceSettings, UnsafeAuthentication

    postgres = "postgresql+asyncpg://avrr:avrr@127.0.0.1:1/avrr_intake"
    embedded = "sqlite+aiosqlite:///:memory:"
    assert ServiceSettings(database_url=embedded, dev=True).check_authentication() is None
    assert ServiceSettings(database_url=postgres, dev=False).check_authentication() is None
    for settings in (
        ServiceSettings(database_url=postgres, dev=True),
        ServiceSettings(database_url=embedded, dev_auth=True, oidc_issuer="https://idp.example"),
    ):
        with pytest.raises(UnsafeAuthentication, match="AVRR_DEV_AUTH"):
            settings.check_authentication()
    overridden = ServiceSettings(database_url=postgres, dev=True, dev_auth_override=True)
    warning = overridden.check_authentication()
    assert warning is not None and "AVRR_DEV_AUTH_OVERRIDE=1" in warning


def test_a_service_process_exits_naming_the_variable_and_warns_under_the_override() -> None:
    import os
    import subprocess
    import sys

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AVRR_", "KAFKA_"))},
        "DATABASE_URL": "postgresql+asyncpg://avrr:avrr@127.0.0.1:1/avrr_intake",
        "AVRR_DEV": "1",
    }
    refused = subprocess.run(
        [sys.executable, "-m", "avrr_events.serve", "intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "AVRR_DEV_AUTH" in refused.stderr and "DATABASE_URL is PostgreSQL" in refused.stderr
    overridden = subprocess.run(
        [sys.executable, "-m", "avrr_events.serve", "intake"],
        env={**env, "AVRR_DEV_AUTH_OVERRIDE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # It goes on (to the unreachable database here), having warned first.
    assert "header authentication is ON" in overridden.stderr
