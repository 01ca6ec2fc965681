"""Issue 15, section 3: no office of another country can take a case over.

A Guatemala -> Honduras movement, on the four services as separate processes
over real Kafka and PostgreSQL, every caller authenticated the production way:
RS256 bearer JWTs checked against the issuer's JWKS, served over HTTP (dev
header authentication is off). Every role of an office of another country
(Tapachula, Mexico) tries every route that changes who sees a case: the
arrival, whose confirmation by the receiving office is the hand-over (there is
no other hand-over or transfer route). Each gets 403, naming its own office or
the right one, and nothing is written. So does the movement's own office in
Guatemala naming an office that is not its own, and a headquarters account
naming an office outside Honduras. Then Tegucigalpa's officer confirms: the
case is handed over to Tegucigalpa, whose users read it in intake and
reintegration, while Tapachula's still get 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from journey_steps import (
    CASEWORKER,
    RECEIVER,
    RECEIVING_OFFICE,
    SERVICES,
    TRAVEL_OFFICER,
    Case,
    Platform,
    clear,
    open_case,
    request_return,
    status,
    ticket,
)

from avrr_events.testing import DocumentServer, ServiceProcess, eventually
from avrr_events.web.auth import DevTokenIssuer
from avrr_events.web.authorization import ROLES
from avrr_events.web.http import PROBLEM_JSON

StartProcesses = Callable[..., Awaitable[dict[str, ServiceProcess]]]
ISSUER = DevTokenIssuer(issuer="https://issuer.test/avrr")
FOREIGN_OFFICE = "MX-TAP"  # an office in Mexico: not the destination country


class JwksServer(DocumentServer):
    """The issuer's JWKS over HTTP, as the services fetch it from a real identity provider."""

    def __init__(self) -> None:
        keys = ISSUER.jwks()
        super().__init__(lambda _path: (200, keys))
        self.url = f"{self.url}/jwks"


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


def bearer(user: str, roles: list[str], offices: list[str]) -> dict[str, str]:
    return {"Authorization": "Bearer " + ISSUER.issue(user, roles, offices)}


async def _signed(request: httpx.Request) -> None:
    """The journey steps name their callers with the dev headers: sign those as a JWT."""
    user = request.headers.pop("X-AVRR-User", None)
    roles = request.headers.pop("X-AVRR-Roles", "")
    offices = request.headers.pop("X-AVRR-Offices", "")
    if user is not None:
        split = [p.strip() for p in roles.split(",") if p.strip()]
        where = [p.strip() for p in offices.split(",") if p.strip()]
        request.headers.update(bearer(user, split, where))


@asynccontextmanager
async def four_services(
    service_processes: StartProcesses, jwks: JwksServer
) -> AsyncIterator[Platform]:
    env = {
        "AVRR_DEV_AUTH": "0",  # bearer tokens only
        "AVRR_OIDC_ISSUER": ISSUER.issuer,
        "AVRR_OIDC_AUDIENCE": ISSUER.audience,
        "AVRR_OIDC_JWKS_URL": jwks.url,
    }
    procs: dict[str, ServiceProcess] = {}
    for name in SERVICES:  # one at a time (intake first: the shared key table)
        procs.update(await service_processes(name, **env))
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=procs[name].url,
                    timeout=30.0,
                    event_hooks={"request": [_signed]},
                )
            )
            for name in SERVICES
        }

        yield Platform(clients)


async def departed(p: Platform) -> Case:
    """A Honduran household in Guatemala, cleared, ticketed and departed for Honduras."""
    case = await open_case(p)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    c = case.case_id
    _, t = await p.post("travel", f"/movements/{c}/departure", {}, TRAVEL_OFFICER, expect=200)
    await p.until(
        "travel", f"/movements/{c}", status("departed"), TRAVEL_OFFICER, hop="departure", since=t
    )
    return case


async def test_no_office_outside_the_destination_country_takes_a_case_over(
    service_processes: StartProcesses, jwks: JwksServer
) -> None:
    async with four_services(service_processes, jwks) as p:
        case = await departed(p)
        c = case.case_id
        travel, intake, reintegration = (
            p.clients[s] for s in ("travel", "intake", "reintegration")
        )
        arrival = f"/movements/{c}/arrival"
        before = (await travel.get(f"/movements/{c}", headers=TRAVEL_OFFICER)).json()["version"]

        async def refused(body: dict[str, Any], headers: dict[str, str], why: str) -> None:
            response = await travel.post(arrival, json=body, headers=headers)
            assert response.status_code == 403, (why, response.status_code, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON, why

        as_foreign = {"confirmed_by": "receiving_office", "confirmer_id": FOREIGN_OFFICE}
        as_right = {"confirmed_by": "receiving_office", "confirmer_id": RECEIVING_OFFICE}
        as_partner = {"confirmed_by": "partner", "confirmer_id": "casa-del-migrante"}
        for role in ROLES:
            who = bearer(f"mx-tap-{role}", [role], [FOREIGN_OFFICE])
            # In its own name (the issue's attack), in the right office's name, as a partner.
            await refused(as_foreign, who, f"{role} of {FOREIGN_OFFICE} as itself")
            await refused(as_right, who, f"{role} of {FOREIGN_OFFICE} as {RECEIVING_OFFICE}")
            await refused(as_partner, who, f"{role} of {FOREIGN_OFFICE} as a partner")
        # The movement's own office (Guatemala) is not Honduras' receiving office either.
        for officer in ("travel_officer", "reintegration_officer"):
            home = bearer(f"gt-gua-{officer}", [officer], ["GT-GUA"])
            await refused(as_foreign, home, f"{officer} of GT-GUA naming {FOREIGN_OFFICE}")
            await refused(as_right, home, f"{officer} of GT-GUA naming {RECEIVING_OFFICE}")
            own = {"confirmed_by": "receiving_office", "confirmer_id": "GT-GUA"}
            await refused(own, home, f"{officer} of GT-GUA as itself")
        # Headquarters sees every office, yet cannot hand a Honduran arrival to Mexico.
        headquarters = bearer("hq-1", ["reintegration_officer"], ["*"])
        await refused(as_foreign, headquarters, "headquarters naming an office in Mexico")
        await refused(as_partner, headquarters, "headquarters, not a travel officer, as a partner")

        # An office the registry does not know, or none: 422 naming the field.
        for body in (
            {"confirmed_by": "receiving_office", "confirmer_id": "HN-NOWHERE"},
            {"confirmed_by": "receiving_office"},
        ):
            response = await travel.post(arrival, json=body, headers=RECEIVER)
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["confirmer_id"]

        movement = (await travel.get(f"/movements/{c}", headers=TRAVEL_OFFICER)).json()
        assert movement["status"] == "departed" and movement["version"] == before, movement

        # Tegucigalpa confirms in its own name: the hand-over.
        response = await travel.post(arrival, json=as_right, headers=RECEIVER)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "arrived"

        hn_caseworker = bearer("hn-tgu-cw", ["caseworker"], [RECEIVING_OFFICE])
        hn_officer = bearer("hn-tgu-ro", ["reintegration_officer"], [RECEIVING_OFFICE])

        async def handed_over() -> bool:
            file = await intake.get(f"/cases/{c}", headers=hn_caseworker)
            plan = await reintegration.get(f"/cases/{c}", headers=hn_officer)
            return file.status_code == 200 and plan.status_code == 200

        await eventually(handed_over, timeout=60)
        for role in ROLES:
            who = bearer(f"mx-tap-{role}", [role], [FOREIGN_OFFICE])
            for client, path in ((intake, f"/cases/{c}"), (reintegration, f"/cases/{c}")):
                response = await client.get(path, headers=who)
                assert response.status_code == 403, (role, path, response.text)
        listed = await intake.get(
            "/cases", headers=bearer("mx-tap-cw", ["caseworker"], [FOREIGN_OFFICE])
        )
        assert listed.status_code == 200
        assert c not in {item["case_id"] for item in listed.json()["items"]}
        # The case stays with its own office too.
        assert (await intake.get(f"/cases/{c}", headers=CASEWORKER)).status_code == 200
