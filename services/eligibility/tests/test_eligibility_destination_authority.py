"""Issue 15, section 5: suspending or reopening returns to a destination needs a reason and
is for headquarters accounts or supervisors of an office in that destination's country.

A supervisor in Tapachula (Mexico) does not decide whether Honduras is safe:
every role of offices outside Honduras is refused (403) both commands, and
nothing is written. Callers are authenticated the production way, by RS256
bearer JWTs checked against the issuer's keys (dev headers off), on real
PostgreSQL and Kafka.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from avrr_eligibility.main import service
from avrr_events.settings import ServiceSettings
from avrr_events.testing import running
from avrr_events.web.auth import DevTokenIssuer
from avrr_events.web.authorization import ROLES
from avrr_events.web.http import PROBLEM_JSON
from avrr_events.web.service import ServiceRuntime

ISSUER = DevTokenIssuer()
# Offices outside Honduras (registry: avrr_events/offices.yaml), alone and together; none.
FOREIGN = [("MX-TAP",), ("GT-GUA",), ("PT-LIS", "MX-TAP", "SV-SAL"), ("CH-GVA",), ()]


def token(role: str, *offices: str) -> dict[str, str]:
    user = f"{role}-{'-'.join(offices) or 'nowhere'}"
    return {"Authorization": "Bearer " + ISSUER.issue(user, [role], offices)}


@asynccontextmanager
async def deployed(
    settings: ServiceSettings,
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """Eligibility as deployed: bearer tokens of ISSUER only, no dev headers."""
    tokens_only = settings.model_copy(update={"dev_auth": False})
    async with running(
        service, tokens_only, base_url="http://eligibility", authenticator=ISSUER.authenticator()
    ) as (runtime, http):
        yield runtime, http


async def destination_events(runtime: ServiceRuntime) -> list[tuple[str, str, dict[str, Any]]]:
    recorded = await runtime.store.read_all()
    return [
        (r.stream_id, r.envelope.type, r.envelope.data)
        for r in recorded
        if r.envelope.type.startswith("avrr.eligibility.Destination")
    ]


def named_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return [e["field"] for e in response.json()["errors"]]


async def test_only_headquarters_or_a_supervisor_in_the_country_suspends_or_reopens_it(
    service_settings: ServiceSettings,
) -> None:
    async with deployed(service_settings) as (runtime, http):
        honduras = {"destination_country": "HN", "reason": "armed violence on the return route"}
        olancho = {**honduras, "destination_region": "Olancho"}
        for body in (honduras, olancho):
            for offices in FOREIGN:
                for role in ROLES:
                    who = token(role, *offices)
                    for route in ("/destinations/suspensions", "/destinations/reopenings"):
                        response = await http.post(route, json=body, headers=who)
                        assert response.status_code == 403, (route, role, offices, response.text)
                        assert response.headers["content-type"] == PROBLEM_JSON
        assert await destination_events(runtime) == []  # nothing was written

        # A supervisor of an office in Honduras: a suspension, then a reopening, with reasons.
        tegucigalpa = token("supervisor", "HN-TGU")
        suspended = await http.post("/destinations/suspensions", json=olancho, headers=tegucigalpa)
        assert suspended.status_code == 201, suspended.text
        reopen = {**olancho, "reason": "the road to Juticalpa is open again"}
        reopened = await http.post("/destinations/reopenings", json=reopen, headers=tegucigalpa)
        assert reopened.status_code == 200, reopened.text
        # Among other offices, one in Honduras is enough; and a headquarters account may.
        mixed = token("supervisor", "MX-TAP", "HN-SPS")
        assert (
            await http.post("/destinations/suspensions", json=honduras, headers=mixed)
        ).status_code == 201
        headquarters = token("supervisor", "*")
        reopen = {**honduras, "reason": "the security situation improved"}
        assert (
            await http.post("/destinations/reopenings", json=reopen, headers=headquarters)
        ).status_code == 200
        # Tapachula's supervisor decides on Mexico.
        mexico = {"destination_country": "MX", "reason": "hurricane on the coast"}
        assert (
            await http.post(
                "/destinations/suspensions", json=mexico, headers=token("supervisor", "MX-TAP")
            )
        ).status_code == 201

        events = await destination_events(runtime)
        assert [
            (data["destination_country"], bool(data.get("destination_region")), kind)
            for _, kind, data in events
        ] == [
            ("HN", True, "avrr.eligibility.DestinationSuspended"),
            ("HN", True, "avrr.eligibility.DestinationReopened"),
            ("HN", False, "avrr.eligibility.DestinationSuspended"),
            ("HN", False, "avrr.eligibility.DestinationReopened"),
            ("MX", False, "avrr.eligibility.DestinationSuspended"),
        ]
        assert events[1][2]["reason"] == "the road to Juticalpa is open again"
        assert events[1][2]["reopened_by"] == "supervisor-HN-TGU"


async def test_a_suspension_or_reopening_without_a_reason_is_refused_naming_reason(
    service_settings: ServiceSettings,
) -> None:
    async with deployed(service_settings) as (runtime, http):
        supervisor = token("supervisor", "HN-TGU")
        place = {"destination_country": "HN"}
        for route in ("/destinations/suspensions", "/destinations/reopenings"):
            for reason in (None, "", "   ", "bad"):
                body = place if reason is None else {**place, "reason": reason}
                response = await http.post(route, json=body, headers=supervisor)
                assert named_fields(response) == ["reason"], (route, reason)
        assert await destination_events(runtime) == []
