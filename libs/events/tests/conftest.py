"""Fixtures of libs/events' own tests: a sample service on real or embedded adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sample_domain import CaseSummary, registry
from sample_service import SampleService, kafka_consumer, open_db, repository

from avrr_events import Database, EventConsumer, EventStore
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, TopicSpec, ensure_topics
from avrr_events.outbox import OutboxRelay


@pytest.fixture(params=["postgres", "sqlite"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """The same test on PostgreSQL (real) and SQLite (embedded default)."""
    name = "database_url" if request.param == "postgres" else "sqlite_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Database]:
    db = await open_db(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def any_db(any_db_url: str) -> AsyncIterator[Database]:
    db = await open_db(any_db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def kafka_service(
    pg: Database, kafka_settings: KafkaSettings, topic_name: Callable[[str], str]
) -> AsyncIterator[SampleService]:
    topic = topic_name("sample")
    await ensure_topics(kafka_settings, [TopicSpec(topic, partitions=3)])
    store = EventStore(pg, topic)
    service = SampleService(
        db=pg,
        store=store,
        repo=repository(store),
        relay=OutboxRelay(pg, KafkaPublisher(kafka_settings), poll_interval=0.2),
        consumer=kafka_consumer(pg, kafka_settings, topic, f"g-{topic}"),
        topic=topic,
    )
    yield service
    await service.stop()
    await service.relay.publisher.stop()
    await service.consumer.dead_letters.stop()


@pytest.fixture
async def embedded_service(sqlite_url: str) -> AsyncIterator[SampleService]:
    db = await open_db(sqlite_url)
    bus = InProcessBus()
    store = EventStore(db, "sample")
    service = SampleService(
        db=db,
        store=store,
        repo=repository(store),
        relay=OutboxRelay(db, bus.publisher(), poll_interval=0.2),
        consumer=EventConsumer(
            db=db,
            source=bus.source("sample-group", ["sample"]),
            registry=registry,
            group="sample-group",
            dead_letters=bus.publisher(),
            projections=[CaseSummary()],
            store=store,
        ),
        topic="sample",
    )
    yield service
    await service.stop()
    await db.dispose()
