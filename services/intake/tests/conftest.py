"""Fixtures of intake's tests: the service on real PostgreSQL + Kafka, through its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from intake_fixtures import Intake, running_intake

from avrr_events.settings import ServiceSettings


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Intake]:
    """Intake with its lifespan running (relay and consumer), and a caseworker's client."""
    async with running_intake(service_settings) as intake:
        yield intake
