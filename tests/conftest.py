"""Fixtures of the cross-service scenarios (tests/journey_steps.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from journey_steps import InProcess, Platform, in_process
from test_return_journey import embedded, process_starter, separate_processes

from avrr_events.web.service import Service


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


@pytest.fixture
async def services_in_process(
    fresh_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str,
    topic_name: Callable[[str], str],
) -> AsyncIterator[InProcess]:
    """``await services_in_process(services)``: those services in this process on real Kafka
    and PostgreSQL (:func:`journey_steps.in_process`: a database each, one shared key
    database, this test's topics), for a scenario that reads what the process holds (its
    spans, its log lines); they stop when the test ends."""
    async with AsyncExitStack() as stack:

        async def start(services: Mapping[str, Service]) -> Platform:
            return await in_process(
                stack, services, fresh_database, kafka_bootstrap, topic_name("avrr")
            )

        yield start
