"""The chaos run's quiescence check counts every record a consumer group has not taken in.

``make chaos`` verifies only once every group's lag is zero. The lag was summed
over the partitions a fresh consumer's metadata cache knew, which is none, so it
read zero at once, and a service restarted just before the check was verified
before it had caught up (the smoke test reported events lost that were only late).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, TopicSpec, ensure_topics
from avrr_events.bus import Message
from chaos.verification import Group, group_lag

pytestmark = pytest.mark.infra


async def test_the_lag_counts_records_past_the_groups_committed_offsets(
    kafka_settings: KafkaSettings, topic_name: Callable[[str], str]
) -> None:
    topic, group = topic_name("events"), topic_name("group")
    await ensure_topics(kafka_settings, [TopicSpec(topic, partitions=3)])
    publisher = KafkaPublisher(kafka_settings)
    try:
        await publisher.publish([Message(topic, f"case-{i}".encode(), b"{}", ()) for i in range(5)])
    finally:
        await publisher.stop()
    readers = Group("intake", group, (topic,), frozenset())

    assert await group_lag(kafka_settings.bootstrap_servers, readers) == 5  # nothing committed

    consumer = AIOKafkaConsumer(
        **kafka_settings.options(), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        busiest = max(tps, key=lambda tp: ends[tp])
        await consumer.commit({tp: ends[tp] for tp in tps if tp != busiest})
        assert await group_lag(kafka_settings.bootstrap_servers, readers) == ends[busiest]
        await consumer.commit({busiest: ends[busiest]})
    finally:
        await consumer.stop()
    assert await group_lag(kafka_settings.bootstrap_servers, readers) == 0
