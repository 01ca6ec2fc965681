"""Each service is its own Kafka principal: it writes only its own topics; authorities read
only the public ones (ARCHITECTURE §9, issue 15 §5).

Against the local broker's SASL/SCRAM listener (scripts/infra.sh), with the
development users that infra.sh creates. The grants under test are those of
``avrr_events.kafka_acls`` for a prefix of this test's own, applied through the
administrative listener and removed afterwards, so the platform's own
``avrr.`` topics are never touched; a last test checks that the platform's
grants themselves are in place on the broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from avrr_events import kafka_acls
from avrr_events.adapters.kafka import KafkaSettings, TopicSpec, ensure_topics, kafka_client_options
from avrr_events.settings import ServiceSettings
from avrr_events.testing import delete_topics
from avrr_events.web.embedded import discover


@pytest.fixture
async def granted_prefix(kafka_bootstrap: str, kafka_sasl_bootstrap: str) -> AsyncIterator[str]:
    """A topic prefix of this test's own, with the platform's grants applied to it."""
    prefix = f"t.{uuid.uuid4().hex[:10]}"
    settings = ServiceSettings(topic_prefix=prefix)
    grants = kafka_acls.platform_grants(settings, discover())
    admin = {"bootstrap.servers": kafka_bootstrap}
    kafka_acls.apply(admin, grants, {})
    topics = [settings.topic(s) for s in ("intake", "travel")] + [settings.public_topic("cases.HN")]
    await ensure_topics(
        KafkaSettings(kafka_bootstrap), [TopicSpec(t, partitions=1) for t in topics]
    )
    try:
        yield prefix
    finally:
        kafka_acls.remove(admin, grants)
        delete_topics(f"{prefix}.")


def _as(user: str, servers: str) -> dict[str, object]:
    return {
        "bootstrap_servers": servers,
        **kafka_client_options(
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_USERNAME": user,
                "KAFKA_SASL_PASSWORD": kafka_acls.development_password(user),
            }
        ),
    }


async def _produce(user: str, servers: str, topic: str) -> None:
    producer = AIOKafkaProducer(**_as(user, servers), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"case"), 30)
    finally:
        await producer.stop()


async def _consume(user: str, servers: str, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        topic, **_as(user, servers), group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.getmany(timeout_ms=3000), 30)
    finally:
        await consumer.stop()


async def test_a_service_writes_its_own_topic_and_not_another_services(
    granted_prefix: str, kafka_sasl_bootstrap: str
) -> None:
    settings = ServiceSettings(topic_prefix=granted_prefix)
    await _produce("intake", kafka_sasl_bootstrap, settings.topic("intake"))
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        await _produce("intake", kafka_sasl_bootstrap, settings.topic("travel"))
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        await _produce("travel", kafka_sasl_bootstrap, settings.public_topic("cases.HN"))


async def test_an_authority_reads_public_topics_and_not_domain_topics(
    granted_prefix: str, kafka_sasl_bootstrap: str
) -> None:
    settings = ServiceSettings(topic_prefix=granted_prefix)
    await _produce("intake", kafka_sasl_bootstrap, settings.public_topic("cases.HN"))
    group = f"{granted_prefix}.authority.hn-ministry"
    await _consume("authority", kafka_sasl_bootstrap, settings.public_topic("cases.HN"), group)
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        await _consume("authority", kafka_sasl_bootstrap, settings.topic("intake"), group)
    # Nor may it write what governments only read.
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        await _produce("authority", kafka_sasl_bootstrap, settings.public_topic("cases.HN"))


def test_the_platforms_own_grants_are_on_the_local_broker(kafka_bootstrap: str) -> None:
    """infra.sh applied exactly the grants the code derives for the ``avrr`` prefix."""
    present = kafka_acls.granted({"bootstrap.servers": kafka_bootstrap})
    wanted = kafka_acls.platform_grants(ServiceSettings(topic_prefix="avrr"), discover())
    missing = [
        (g.principal, g.name, op)
        for g in wanted
        for op in g.operations
        if (g.principal, g.name, op) not in present
    ]
    assert not missing, f"grants missing on the broker (run scripts/infra.sh up): {missing}"
