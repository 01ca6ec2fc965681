"""/metrics exposes the series operators watch: HTTP latency, appends, outbox, lag, dead letters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sample_domain import SampleCase
from sample_service import repository, rest_service

from avrr_events import Cause
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, serving
from avrr_events.web.service import ServiceRuntime

measured = rest_service("measured")

SERIES = (
    "avrr_http_request_duration_seconds_bucket",
    'avrr_events_appended_total{service="measured",type="avrr.sample.CaseOpened"} 2.0',
    'avrr_outbox_backlog{service="measured"}',
    'avrr_outbox_oldest_age_seconds{service="measured"}',
    'avrr_events_published_total{service="measured"} 2.0',
    "avrr_consumer_lag{",
    "avrr_consumer_batch_duration_seconds_bucket",
    'avrr_events_consumed_total{service="measured"} 2.0',
    "avrr_dead_letters_total",
)


async def test_metrics_on_the_embedded_default(sqlite_url: str) -> None:
    runtime = ServiceRuntime(measured, ServiceSettings(database_url=sqlite_url, dev=True))
    text = await scrape_after_two_cases(runtime)
    lag = 'avrr_consumer_lag{partition="0",service="measured",topic="avrr.measured.events"}'
    assert f"{lag} 0.0" in text


@pytest.fixture
def on_kafka(
    database_url: str, kafka_bootstrap: str, topic_name: Callable[[str], str]
) -> ServiceSettings:
    """PostgreSQL and Kafka, with topics of this test's own."""
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_name("m"),
        dev=True,
    )


async def test_metrics_on_postgresql_and_kafka(on_kafka: ServiceSettings) -> None:
    text = await scrape_after_two_cases(ServiceRuntime(measured, on_kafka))
    lags = [line for line in text.splitlines() if line.startswith("avrr_consumer_lag{")]
    assert lags, "one lag series per assigned partition"
    assert all(line.endswith(" 0.0") for line in lags)


async def scrape_after_two_cases(runtime: ServiceRuntime) -> str:
    """Open two cases through REST, wait until consumed, return the /metrics text."""
    headers = {"X-AVRR-User": "ana", "X-AVRR-Roles": "caseworker"}
    async with serving(runtime) as http:
        for case_id in ("m-1", "m-2"):
            assert (await http.post(f"/cases/{case_id}", headers=headers)).status_code == 200

        async def consumed() -> bool:
            # The relay counts a record once its row is marked sent, which can come after
            # the consumer has applied it (the bus hands it over before the relay's update).
            return runtime.consumer.stats.applied == 2 and runtime.relay.published == 2

        await eventually(consumed)
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        for series in SERIES:
            assert series in text, series
        assert 'route="/cases/{case_id}"' in text
        return text


async def test_an_outbox_row_the_broker_refuses_is_counted_and_leaves_the_backlog(
    on_kafka: ServiceSettings,
) -> None:
    settings = on_kafka.model_copy(update={"relay_poll_interval": 0.2})
    runtime = ServiceRuntime(measured, settings)
    async with serving(runtime) as http:
        repo = repository(runtime.store)
        big = SampleCase("big-m")
        big.open("office")
        big.add_note("x" * 1_500_000)  # over the broker's message.max.bytes (about 1 MiB)
        await repo.save(big, Cause.new())
        after = SampleCase("after-m")
        after.open("office")
        await repo.save(after, Cause.new())

        async def consumed() -> bool:
            return runtime.consumer.stats.applied == 2 and runtime.relay.set_aside == 1

        await eventually(consumed, timeout=60)
        text = ""

        async def published_rows_left_the_backlog() -> bool:
            # The consumer may apply a record before the relay has marked its row sent.
            nonlocal text
            text = (await http.get("/metrics")).text
            return 'avrr_outbox_backlog{service="measured"} 0.0' in text

        await eventually(published_rows_left_the_backlog, timeout=30)
    assert 'avrr_outbox_set_aside{service="measured"} 1.0' in text
    assert 'avrr_outbox_records_set_aside_total{service="measured"} 1.0' in text
    assert 'avrr_outbox_backlog{service="measured"} 0.0' in text
