"""avrr_events.web.authorization: a policy is a table the app enforces on every route, deny by
default; office scoping reaches a case's offices through the service's lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from avrr_events.web.authorization import (
    PUBLIC,
    Authorized,
    Policy,
    Role,
    allow,
    authorize,
    may_see,
    route_keys,
    stale_rules,
    unruled_routes,
    visible_offices,
)
from avrr_events.web.http import Principal, install_problem_handlers

CASES = {"c-gt": frozenset({"GT-GUA"}), "c-handed": frozenset({"GT-GUA", "HN-TGU"})}


async def case_offices(_request: Request, case_id: str) -> frozenset[str] | None:
    return CASES.get(case_id)


POLICY = Policy(
    {
        "GET /health": PUBLIC,
        "GET /cases": allow(Role.CASEWORKER, scope="office"),
        "GET /cases/{case_id}": allow(Role.CASEWORKER, Role.SUPERVISOR, scope="case"),
        "POST /cases/{case_id}/erasure": allow(Role.DATA_PROTECTION_OFFICER, scope="case"),
        "GET /gone": allow(Role.ADMIN),
    },
    case_offices=case_offices,
)


def build() -> FastAPI:
    app = FastAPI(dependencies=[Depends(authorize)], openapi_url=None)
    app.state.policy = POLICY
    app.state.dev_auth = True
    install_problem_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/cases")
    async def cases(who: Authorized) -> dict[str, object]:
        offices = visible_offices(who)
        return {"offices": None if offices is None else sorted(offices)}

    @app.get("/cases/{case_id}")
    async def case(case_id: str, who: Authorized) -> dict[str, str]:
        if case_id not in CASES:
            return {"case_id": case_id, "found": "no"}
        return {"case_id": case_id, "user": who.user_id}

    @app.post("/cases/{case_id}/erasure")
    async def erase(case_id: str, who: Authorized) -> dict[str, str]:
        return {"erased": case_id}

    @app.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"secret": "nobody ruled me"}

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build()), base_url="http://policy"
    ) as client:
        yield client


def caller(role: str, offices: str = "GT-GUA") -> dict[str, str]:
    return {"X-AVRR-User": f"{role}-1", "X-AVRR-Roles": role, "X-AVRR-Offices": offices}


async def test_roles_are_checked_and_public_routes_need_no_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/cases/c-gt")).status_code == 401
    assert (await http.get("/cases/c-gt", headers=caller("caseworker"))).status_code == 200
    refused = await http.get("/cases/c-gt", headers=caller("referrer"))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "caseworker" in refused.json()["detail"]


async def test_a_route_without_a_rule_is_refused_to_everyone(http: httpx.AsyncClient) -> None:
    for role in Role:
        response = await http.get("/forgotten", headers=caller(role, "*"))
        assert response.status_code == 403
        assert "secret" not in response.text
    assert unruled_routes(build()) == ["GET /forgotten"]
    assert stale_rules(build()) == ["GET /gone"]
    assert "GET /cases/{case_id}" in route_keys(build().routes)


async def test_a_case_is_seen_by_its_offices_only(http: httpx.AsyncClient) -> None:
    assert (await http.get("/cases/c-gt", headers=caller("caseworker", "MX-TAP"))).status_code == (
        403
    )
    assert (await http.get("/cases/c-gt", headers=caller("caseworker", ""))).status_code == 403
    handed = await http.get("/cases/c-handed", headers=caller("caseworker", "HN-TGU"))
    assert handed.status_code == 200  # the receiving office, after the handover
    assert (await http.get("/cases/c-gt", headers=caller("supervisor", "*"))).status_code == 200
    # No role bypasses the scope: a supervisor is scoped like anyone else.
    assert (await http.get("/cases/c-gt", headers=caller("supervisor", "MX-TAP"))).status_code == (
        403
    )
    # An unknown case is the route's 404 (or whatever it answers), not authorization's.
    assert (await http.get("/cases/c-none", headers=caller("caseworker", "MX-TAP"))).json() == {
        "case_id": "c-none",
        "found": "no",
    }
    erase = await http.post("/cases/c-gt/erasure", headers=caller("data_protection_officer", ""))
    assert erase.status_code == 403


async def test_an_office_parameter_must_be_one_of_the_callers(http: httpx.AsyncClient) -> None:
    mine = await http.get("/cases", params={"office": "GT-GUA"}, headers=caller("caseworker"))
    assert mine.status_code == 200 and mine.json() == {"offices": ["GT-GUA"]}
    other = await http.get("/cases", params={"office": "MX-TAP"}, headers=caller("caseworker"))
    assert other.status_code == 403
    everywhere = await http.get("/cases", headers=caller("caseworker", "*"))
    assert everywhere.json() == {"offices": None}


def test_a_policy_is_checked_when_it_is_written() -> None:
    with pytest.raises(ValueError, match="METHOD /path"):
        Policy({"get /cases": PUBLIC})
    with pytest.raises(ValueError, match="case_offices"):
        Policy({"GET /cases/{case_id}": allow(Role.CASEWORKER, scope="case")})
    with pytest.raises(ValueError, match="at least one role"):
        allow()
    with pytest.raises(ValueError, match="ruled twice"):
        POLICY.merged(Policy({"GET /health": PUBLIC}))


def test_star_is_every_office_and_no_office_is_none() -> None:
    hq = Principal("hq", frozenset({"supervisor"}), frozenset({"*"}))
    nobody = Principal("n", frozenset({"supervisor"}), frozenset())
    assert may_see(hq, {"GT-GUA"}) and visible_offices(hq) is None
    assert not may_see(nobody, {"GT-GUA"}) and visible_offices(nobody) == frozenset()
