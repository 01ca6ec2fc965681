"""Fixtures of intake's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from intake_fixtures import CASEWORKER, Intake

from avrr_events.service import ServiceSettings
from avrr_events.testing import running
from avrr_intake.main import service


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Intake]:
    """Intake with its lifespan running (relay and consumer), and a caseworker's client."""
    async with running(service, service_settings, base_url="http://intake", headers=CASEWORKER) as (
        runtime,
        http,
    ):
        yield Intake(runtime, http)
