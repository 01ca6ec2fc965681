"""Who may call: bearer tokens of the configured issuer, dev headers only when enabled."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, FastAPI

from avrr_events.auth import DevTokenIssuer
from avrr_events.http import Principal, install_problem_handlers, require_role


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
