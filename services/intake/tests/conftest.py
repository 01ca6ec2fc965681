"""Fixtures of intake's tests: the service on real PostgreSQL + Kafka, through its runtime,
and on the embedded default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from intake_fixtures import CASEWORKER, Intake, running_intake

from avrr_events import harness
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.settings import ServiceSettings
from avrr_intake.main import service


@pytest.fixture
async def intake(service_settings: ServiceSettings) -> AsyncIterator[Intake]:
    """Intake with its lifespan running (relay and consumer), and a caseworker's client."""
    async with running_intake(service_settings) as intake:
        yield intake


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[tuple[Intake, InProcessBus]]:
    """Intake on SQLite and the in-process bus (what `make run` runs), and that bus."""
    async with harness.embedded(
        service,
        tmp_path / "intake.db",
        base_url="http://intake",
        keys=tmp_path / "keys.db",
        headers=CASEWORKER,
    ) as (runtime, http, bus):
        yield Intake(runtime, http), bus
