"""Helpers of intake's tests: a referral payload, a client that knows the API, a database dump."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from intake_tokens import ISSUER

from avrr_events import Message
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, running
from avrr_events.web.embedded import build_app
from avrr_events.web.service import ServiceRuntime
from avrr_intake.main import service

CASEWORKER = {
    "X-AVRR-User": "caseworker-1",
    "X-AVRR-Roles": "caseworker",
    "X-AVRR-Offices": "GT-GUA,MX-TAP",
}
DPO = {
    "X-AVRR-User": "dpo-1",
    "X-AVRR-Roles": "data_protection_officer",
    "X-AVRR-Offices": "GT-GUA",
}
PRINCIPAL_NAME = "María José Quispe Mamani"

_REFERRAL: dict[str, Any] = {
    "source": "ngo",
    "referrer": {
        "name": "Ana Referente",
        "organisation": "Casa del Migrante",
        "contact": "+502 5555 0101",
    },
    "contact_sharing_consented": True,
    "contact": {"phone": "+502 5555 0199", "email": "maria.quispe@example.org"},
    "current_location": {"country": "GT", "city": "Ciudad de Guatemala"},
    "nationality": "BO",
    "languages": ["es", "qu"],
    "household": [
        {
            "given_names": "María José",
            "family_name": "Quispe Mamani",
            "date_of_birth": "1990-04-12",
            "sex": "female",
            "relationship": "principal",
            "document_type": "passport",
            "document_number": "BO1234567",
        },
        {
            "given_names": "Luis",
            "family_name": "Quispe",
            "date_of_birth": "2016-09-01",
            "sex": "male",
            "relationship": "child",
        },
    ],
    # No declared_needs: health data, recorded on the case after the medical consent.
    "office": "GT-GUA",
}


def referral(**overrides: Any) -> dict[str, Any]:
    """A valid referral of a mother and her child; keyword arguments replace top-level fields."""
    body = copy.deepcopy(_REFERRAL)
    body.update(overrides)
    return body


def consent(person_id: str, *purposes: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person_id": person_id,
        "purposes": list(purposes or ["return_assistance_processing"]),
        "given_on": "2026-01-10",
        "language": "es",
    }
    body.update(overrides)
    return body


@dataclass
class Intake:
    """The running service and an HTTP client on its app (lifespan started)."""

    runtime: ServiceRuntime
    http: httpx.AsyncClient

    async def refer(self, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return await self.http.post("/referrals", json=body or referral(), headers=headers)

    async def open_case(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Refer, wait until the case is readable, return the referral's response body."""
        response = await self.refer(body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        await self.wait_for(created["case_id"], version=created["version"])
        return created

    async def return_requested(self) -> tuple[str, str, str]:
        """A case whose mother and child (as guardian) consented and whose return to BO was
        requested: (case id, mother, child); what withdrawals and reopenings start from."""
        created = await self.open_case()
        case_id = created["case_id"]
        mother = self.person(created, "principal")
        child = self.person(created, "child")
        for person, extra in (
            (mother, {}),
            (child, {"given_by": "guardian", "representative_person_id": mother}),
        ):
            given = await self.http.post(
                f"/cases/{case_id}/consents", json=consent(person, **extra)
            )
            assert given.status_code == 201, given.text
        requested = await self.http.post(
            f"/cases/{case_id}/return-request", json={"destination_country": "BO"}
        )
        assert requested.status_code == 201, requested.text
        return case_id, mother, child

    def person(self, created: dict[str, Any], relationship: str) -> str:
        return str(
            next(p["person_id"] for p in created["household"] if p["relationship"] == relationship)
        )

    async def case(self, case_id: str) -> httpx.Response:
        return await self.http.get(f"/cases/{case_id}")

    async def wait_for(self, case_id: str, *, version: int) -> dict[str, Any]:
        """The case file once the read model has caught up with ``version``."""
        seen: dict[str, Any] = {}

        async def caught_up() -> bool:
            response = await self.case(case_id)
            if response.status_code != 200:
                return False
            seen.update(response.json())
            return int(seen["version"]) >= version

        await eventually(caught_up, timeout=30)
        return seen

    async def event_types(self, case_id: str | None = None) -> list[str]:
        """Types of the events in the store (of one case, or all)."""
        if case_id is not None:
            return [r.envelope.type for r in await self.runtime.store.load(f"case-{case_id}")]
        return [r.envelope.type for r in await self.runtime.store.read_all()]


@asynccontextmanager
async def running_intake(settings: ServiceSettings) -> AsyncIterator[Intake]:
    """Intake with its lifespan running (relay and consumer), and a caseworker's client;
    its settings (the attachment store, say) as the environment gives them."""
    async with running(
        service,
        settings,
        base_url="http://intake",
        headers=CASEWORKER,
        # Bearer JWTs of the tests' issuer are checked the production way (JWKS, RS256);
        # without one, the development headers stand in.
        authenticator=ISSUER.authenticator(),
    ) as (runtime, http):
        yield Intake(runtime, http)


@asynccontextmanager
async def as_make_run_serves_it(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Intake as ``make run`` serves it (``build_app``: one app, its SQLite files in
    ``data_dir``, the in-process bus, its routes under ``/intake``), with a caseworker's
    client."""
    app = build_app(data_dir, [service])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://avrr", headers=CASEWORKER
        ) as http,
    ):
        yield http


async def publish(kafka_settings: KafkaSettings, records: Sequence[Message]) -> None:
    """Publish records on Kafka as their service would, for intake's consumer to take in."""
    publisher = KafkaPublisher(kafka_settings)
    try:
        await publisher.publish(records)
    finally:
        await publisher.stop()


def answered(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON body of a response that must have ``status`` (else the body is the failure)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body
