"""Fixtures of the cross-service scenarios (tests/journey_steps.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from journey_steps import Platform
from test_return_journey import embedded, process_starter, separate_processes


@pytest.fixture(params=["across_processes", "on_the_embedded_default"])
async def platform_on_each_stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Platform]:
    """The four services as separate processes over real Kafka and PostgreSQL, then as the
    embedded default (one app, SQLite, in-process bus): a scenario written once runs on the
    deployment and on what a newcomer runs. The ids keep the tests' former name endings."""
    if request.param == "on_the_embedded_default":
        async with embedded(tmp_path / "avrr-data") as p:
            yield p
        return
    kafka_bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    async with (
        process_starter(request, tmp_path) as service_processes,
        separate_processes(service_processes, kafka_bootstrap) as p,
    ):
        yield p
