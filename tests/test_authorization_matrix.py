"""Every route of every service app x every role: allowed, or 403; no token: 401.

The expectations come from each app's route table and its authorization policy
(avrr_events.web.authorization): a route without a rule fails the matrix, and so
does a route whose handler lets through a role its rule does not name (or
refuses one it names). Callers are authenticated the production way, by RS256
bearer JWTs checked against the issuer's JWKS (``DevTokenIssuer`` signs them,
no dev headers), on the embedded default (SQLite, in-process bus). Fake ids
may legitimately answer 404 or 422 to an allowed caller: only 401 and 403 are
authorization's answers.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from avrr_eligibility.main import service as eligibility
from avrr_events.settings import ServiceSettings
from avrr_events.web.auth import DevTokenIssuer
from avrr_events.web.authorization import (
    ROLES,
    Policy,
    Role,
    route_keys,
    stale_rules,
    unruled_routes,
)
from avrr_events.web.http import PROBLEM_JSON
from avrr_events.web.service import Service, ServiceRuntime
from avrr_intake.api import IDENTITY_DOCUMENT_READERS
from avrr_intake.main import service as intake
from avrr_reintegration.main import service as reintegration
from avrr_travel.main import service as travel

SERVICES: dict[str, Service] = {s.name: s for s in (intake, eligibility, travel, reintegration)}
OFFICE = "GT-GUA"
OTHER_OFFICE = "MX-TAP"
ISSUER = DevTokenIssuer()
# Path parameters that must parse for the request to reach the handler; others get "x".
PATH_VALUES = {"case_id": "matrix-case", "day": "2026-01-15", "purpose": "contact_by_iom"}


def token(role: str, *, offices: tuple[str, ...] = (OFFICE,), **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + ISSUER.issue(f"{role}-1", [role], offices, **claims)}


@asynccontextmanager
async def serving(service: Service, url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """``service`` as deployed: no dev authentication, bearer tokens of ISSUER only."""
    settings = ServiceSettings(
        database_url=url,
        kafka_bootstrap_servers=None,  # the in-process bus, whatever the environment says
        master_key=base64.b64encode(os.urandom(32)).decode(),
        dev=False,
        dev_auth=False,
        migrate_on_start=True,
    )
    runtime = ServiceRuntime(service, settings)
    app = runtime.app()
    app.state.authenticator = ISSUER.authenticator()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{service.name}"
        ) as http,
    ):
        yield app, http


@pytest.fixture(autouse=True)
def _intake_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside development intake needs its duplicate-check key.
    monkeypatch.setenv("AVRR_INTAKE_DUPLICATE_SECRET", "matrix-" + "k" * 40)


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


async def call(
    http: httpx.AsyncClient,
    key: str,
    headers: dict[str, str] | None = None,
    office: str = OFFICE,
) -> httpx.Response:
    method, path = key.split(" ", 1)
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return await http.request(
        method, concrete(path), params={"office": office}, json=body, headers=headers or {}
    )


async def authorization_mismatches(app: FastAPI, http: httpx.AsyncClient) -> list[str]:
    """Every way ``app`` departs from its policy (empty: the matrix holds)."""
    policy: Policy = app.state.policy
    problems = [f"{key}: no authorization rule" for key in unruled_routes(app)]
    problems += [f"{key}: a rule for no route" for key in stale_rules(app)]
    for key in route_keys(app.routes):
        rule = policy.rules.get(key)
        if rule is None:
            continue
        anonymous = await call(http, key)
        if rule.public:
            if anonymous.status_code in (401, 403):
                problems.append(f"{key}: public, yet {anonymous.status_code} without a token")
            continue
        if anonymous.status_code != 401:
            problems.append(f"{key}: {anonymous.status_code} without a token, not 401")
        elif anonymous.headers["content-type"] != PROBLEM_JSON:
            problems.append(f"{key}: 401 is not problem+json")
        for role in ROLES:
            got = (await call(http, key, token(role))).status_code
            if role in rule.roles and got in (401, 403):
                problems.append(f"{key} as {role}: {got}, the rule allows it")
            if role not in rule.roles and got != 403:
                problems.append(f"{key} as {role}: {got}, the rule denies it (403)")
            if role in rule.roles and rule.scope == "office":
                elsewhere = (await call(http, key, token(role), office=OTHER_OFFICE)).status_code
                if elsewhere != 403:
                    problems.append(f"{key} as {role} for another office: {elsewhere}, not 403")
    return problems


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_every_route_answers_every_role_as_its_policy_says(
    name: str, sqlite_url: str
) -> None:
    async with serving(SERVICES[name], sqlite_url) as (app, http):
        routes = route_keys(app.routes)
        assert len(routes) > 12  # the service's own routes and the runtime's
        assert await authorization_mismatches(app, http) == []


async def test_a_route_without_a_rule_fails_the_matrix_and_is_refused(sqlite_url: str) -> None:
    async with serving(intake, sqlite_url) as (app, http):

        @app.get("/cases/{case_id}/gossip")
        async def gossip(case_id: str) -> dict[str, str]:
            return {"case_id": case_id, "said": "something personal"}

        assert unruled_routes(app) == ["GET /cases/{case_id}/gossip"]
        problems = await authorization_mismatches(app, http)
        assert problems == ["GET /cases/{case_id}/gossip: no authorization rule"]
        # Refused to everyone until a rule says who may call it.
        for role in ROLES:
            response = await http.get("/cases/c-1/gossip", headers=token(role, offices=("*",)))
            assert response.status_code == 403
            assert "no authorization rule" in response.json()["detail"]


# ------------------------------------------------------------------ tokens --


def _tampered(valid: str) -> str:
    head, payload, signature = valid.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{payload}.{flipped}"


def _bad_tokens() -> dict[str, str]:
    stranger = DevTokenIssuer()  # same issuer name and audience, a key ISSUER never published
    unsigned = jwt.encode(
        {"sub": "x", "aud": ISSUER.audience, "iss": ISSUER.issuer, "exp": 2**31, "iat": 0},
        key="",
        algorithm="none",
    )
    return {
        "malformed": "not-a-jwt",
        "bad signature": _tampered(ISSUER.issue("cw-1", ["caseworker"], [OFFICE])),
        "signed by another key": stranger.issue("cw-1", ["caseworker"], [OFFICE]),
        "unsigned (alg none)": unsigned,
        "expired": ISSUER.issue("cw-1", ["caseworker"], [OFFICE], ttl=-3600),
        "wrong audience": ISSUER.issue("cw-1", ["caseworker"], [OFFICE], aud="another-api"),
        "wrong issuer": ISSUER.issue("cw-1", ["caseworker"], [OFFICE], iss="urn:elsewhere"),
    }


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_missing_bad_expired_and_foreign_tokens_get_401_problems(
    name: str, sqlite_url: str
) -> None:
    async with serving(SERVICES[name], sqlite_url) as (app, http):
        policy: Policy = app.state.policy
        guarded = next(k for k in route_keys(app.routes) if not policy.rules[k].public)
        for why, bad in {"no token": "", **_bad_tokens()}.items():
            headers = {"Authorization": f"Bearer {bad}"} if bad else {}
            response = await call(http, guarded, headers)
            assert response.status_code == 401, (why, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON, why
            assert response.headers["www-authenticate"].startswith("Bearer"), why
        # Dev headers count for nothing when dev authentication is off.
        dev = {"X-AVRR-User": "cw-1", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": OFFICE}
        assert (await call(http, guarded, dev)).status_code == 401
        # ... while the same caller with a valid token is let through.
        rule = policy.rules[guarded]
        role = sorted(rule.roles)[0]
        assert (await call(http, guarded, token(role))).status_code not in (401, 403)


# ----------------------------------------------------------- people search --


def test_people_search_is_for_casework_and_data_protection_within_their_offices() -> None:
    """Search terms name people and the answer names them: casework (who meets them again)
    and the data protection officer (who answers their requests) search, and only the cases
    of their offices (an ``office`` of someone else's is 403, in the matrix above)."""
    assert intake.policy is not None
    rule = intake.policy.rules["POST /people/search"]
    assert rule.roles == {Role.CASEWORKER, Role.SUPERVISOR, Role.DATA_PROTECTION_OFFICER}
    assert rule.scope == "office"


# ------------------------------------------------------------ medical data --


def test_corrections_are_casework_of_the_case_office() -> None:
    """Rectifying a person's data: casework, or the data protection officer handling their
    request; amending the return or the household: casework. All on a case of the caller's
    offices (the matrix above checks every other role and office is refused)."""
    assert intake.policy is not None
    rules = intake.policy.rules
    casework = {Role.CASEWORKER, Role.SUPERVISOR}
    rectify = rules["POST /cases/{case_id}/rectifications"]
    assert rectify.roles == {*casework, Role.DATA_PROTECTION_OFFICER}
    for key in (
        "POST /cases/{case_id}/return-request/amendments",
        "POST /cases/{case_id}/household/removals",
        "POST /cases/{case_id}/household/additions",
    ):
        assert rules[key].roles == casework, key
        assert rules[key].scope == "case", key
    assert rectify.scope == "case"


def test_health_details_are_served_to_the_medical_role_only() -> None:
    """The routes that record or reveal health details admit nobody but ``medical``."""
    assert travel.policy is not None
    for key in ("GET /movements/{case_id}/medical", "POST /movements/{case_id}/fitness"):
        assert travel.policy.rules[key].roles == {Role.MEDICAL}, key


def test_group_movements_are_worked_by_the_travel_officers_of_the_groups_office() -> None:
    """Convoys and charters (issue 20): planned, staffed, filled, departed and arrived by
    travel officers only; the handler admits the group's office alone (403 for any other)."""
    assert travel.policy is not None
    keys = [k for k in travel.policy.rules if " /groups" in k]
    assert sorted(keys) == [
        "DELETE /groups/{group_id}/households/{case_id}",
        "GET /groups/{group_id}",
        "POST /groups",
        "POST /groups/{group_id}/arrival",
        "POST /groups/{group_id}/departure",
        "POST /groups/{group_id}/escorts",
        "POST /groups/{group_id}/households",
    ]
    for key in keys:
        rule = travel.policy.rules[key]
        assert rule.roles == {Role.TRAVEL_OFFICER} and rule.scope == "handler", key


# ------------------------------------------------------ case lists (issue 18) --


def test_the_case_list_is_for_case_readers_and_the_incoming_list_for_receiving_staff() -> None:
    """Both list offices' cases: scoped to the caller's offices (``office``). The incoming list
    shows the needs travellers consented to share with reintegration, so it is for the staff
    who receive them, not for auditors, medical staff or travel officers."""
    assert intake.policy is not None
    listed = intake.policy.rules["GET /cases"]
    assert (listed.roles, listed.scope) == (
        frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.DATA_PROTECTION_OFFICER}),
        "office",
    )
    incoming = intake.policy.rules["GET /incoming"]
    assert (incoming.roles, incoming.scope) == (
        frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.REINTEGRATION_OFFICER}),
        "office",
    )
    assert reintegration.policy is not None
    for key in ("GET /monitoring/overdue", "GET /plans/overdue"):
        assert reintegration.policy.rules[key].scope == "office", key


# --------------------------------------------------------- notes and files --


def test_notes_and_files_are_the_cases_casework_and_identity_documents_fewer_hands() -> None:
    """Notes and files are written by casework of the case's offices and read by the case's
    readers (the data protection officer too, for a person's access request); a copy of an
    identity document is downloaded by supervisors and the data protection officer only."""
    assert intake.policy is not None
    rules = intake.policy.rules
    work = frozenset({Role.CASEWORKER, Role.SUPERVISOR})
    for key in ("POST /cases/{case_id}/notes", "POST /cases/{case_id}/attachments"):
        assert rules[key].roles == work and rules[key].scope == "case", key
    for key in (
        "GET /cases/{case_id}/notes",
        "GET /cases/{case_id}/attachments",
        "GET /cases/{case_id}/attachments/{attachment_id}",
    ):
        assert rules[key].roles == work | {Role.DATA_PROTECTION_OFFICER}, key
        assert rules[key].scope == "case", key
    assert set(IDENTITY_DOCUMENT_READERS) == {Role.SUPERVISOR, Role.DATA_PROTECTION_OFFICER}


# ------------------------------------------------- feedback and complaints --


def test_feedback_is_recorded_by_who_meets_migrants_and_handled_by_whom_it_is_routed_to() -> None:
    """Staff who meet migrants, and partners, record feedback; casework staff handle their
    office's, the focal point alone the complaints of abuse and misconduct, each item checked
    by the route (``handler``: anyone else gets 404, tested in test_intake_feedback). Nobody
    outside those reads an item, and an auditor reads only the counts."""
    assert intake.policy is not None
    rules = intake.policy.rules
    handlers = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.FOCAL_POINT})
    recorded = rules["POST /feedback"]
    assert recorded.roles == {
        Role.REFERRER,
        Role.CASEWORKER,
        Role.SUPERVISOR,
        Role.TRAVEL_OFFICER,
        Role.REINTEGRATION_OFFICER,
        Role.FOCAL_POINT,
    }
    for key in (
        "GET /feedback",
        "GET /feedback/{feedback_id}",
        "POST /feedback/{feedback_id}/acknowledgement",
        "POST /feedback/{feedback_id}/resolution",
    ):
        assert rules[key].roles == handlers, key
    report = rules["GET /reports/feedback"]
    assert report.roles == {Role.SUPERVISOR, Role.AUDITOR, Role.FOCAL_POINT}
    assert {rules[k].scope for k in rules if "feedback" in k} == {"handler"}


# ------------------------------------------------------- notices (issue 19) --


def test_blank_notices_are_for_staff_and_partners_and_a_cases_notices_for_its_readers() -> None:
    """A blank notice (the rights notice, a consent purpose's text) names nobody: every staff
    role and partners may print it. A case's notice names the person: the case file's readers
    of the case's offices only, as GET /cases/{case_id} (audited, as every case route)."""
    assert intake.policy is not None
    rules = intake.policy.rules
    blank = set(ROLES) - {Role.AUTHORITY}
    for key in ("GET /notices/rights", "GET /notices/consent-purposes/{purpose}"):
        assert (rules[key].roles, rules[key].scope) == (frozenset(blank), "none"), key
    for key in (
        "GET /cases/{case_id}/notices/rights",
        "GET /cases/{case_id}/notices/consents/{person_id}/{purpose}",
    ):
        assert rules[key] == rules["GET /cases/{case_id}"], key
        assert rules[key].scope == "case", key


def test_manifests_and_consulate_lists_are_for_travel_officers_of_the_cases_offices() -> None:
    """A group's or a day's manifest names the travellers and their identity documents, and a
    consulate list the people who consented to share with authorities: travel officers only,
    scoped to their offices (another office's group reads 404; a day of another office, 403),
    audited per case (manifests_api.py)."""
    assert intake.policy is not None
    rules = intake.policy.rules
    for key in (
        "GET /groups/{group_id}/manifest",
        "GET /groups/{group_id}/consulate-list",
        "GET /manifests",
    ):
        assert (rules[key].roles, rules[key].scope) == (
            frozenset({Role.TRAVEL_OFFICER}),
            "office",
        ), key


def test_the_decision_travel_and_plan_notices_are_read_as_what_they_tell() -> None:
    """Each service's notice is read by who reads what it tells, of the case's offices: the
    decision by casework (as GET /assessments/{case_id}/decision), the travel instructions
    by the movement's readers (as GET /movements/{case_id}), the plan summary, which shows
    the plan's activities, by the plan's readers (as GET /cases/{case_id}/plan)."""
    pairs = (
        (eligibility, "decision", "GET /assessments/{case_id}/decision"),
        (travel, "travel-instructions", "GET /movements/{case_id}"),
        (reintegration, "plan", "GET /cases/{case_id}/plan"),
    )
    for service, notice, same_as in pairs:
        assert service.policy is not None
        rules = service.policy.rules
        prefix = same_as.removesuffix("/decision").removesuffix("/plan")
        key = f"{prefix}/notices/{notice}"
        assert rules[key] == rules[same_as], key
        assert rules[key].scope == "case", key
