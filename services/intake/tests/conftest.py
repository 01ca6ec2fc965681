"""Fixtures of intake's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from intake_fixtures import CASEWORKER, Intake
from intake_tokens import ISSUER

from avrr_events.settings import ServiceSettings
from avrr_events.testing import running
from avrr_intake.main import service


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Intake]:
    """Intake with its lifespan running (relay and consumer), and a caseworker's client."""
    async with running(
        service,
        service_settings,
        base_url="http://intake",
        headers=CASEWORKER,
        # Bearer JWTs of the tests' issuer are checked the production way (JWKS, RS256);
        # without one, the development headers stand in.
        authenticator=ISSUER.authenticator(),
    ) as (runtime, http):
        yield Intake(runtime, http)
