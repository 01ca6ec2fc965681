"""Audit chain heads anchored outside the service's database (see audit.py).

Whoever owns the database can delete the last audit entries: the chain that
is left is whole, only shorter, and no hash inside the database can show it.
So a periodic job (one replica at a time, ``periodic.py``) publishes the
chain's head (last entry id and its keyed hash) to the service's audit topic
``<prefix>.audit.<service>`` (one partition, kept forever), and
``GET /audit/verification`` compares the latest anchor with the table: the
anchored entry must still be there with the same hash. Before it publishes a
new head the job checks that the previous anchored entry is unchanged and
that every entry since follows under the key, so a chain broken between two
runs is never anchored over (the job fails, is retried, and the latest anchor
keeps pointing at what was there).

Anchors are CloudEvents (binary mode, like every record on the platform);
they hold ids and hashes only. With the in-process bus (embedded default)
the topic lives in the process's memory: anchors last as long as it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings, TopicSpec, ensure_topics
from avrr_events.audit import Anchor, AuditLog
from avrr_events.bus import Message
from avrr_events.envelope import Envelope

ANCHOR_TYPE = "avrr.audit.ChainHeadAnchored"
ANCHOR_SCHEMA = "urn:avrr:audit:ChainHeadAnchored:1"

# Anchors are few (one per interval while entries are written) and worth keeping.
ANCHOR_TOPIC_CONFIG = (("retention.ms", "-1"), ("cleanup.policy", "delete"))


class AuditChainBroken(RuntimeError):
    """The chain no longer fits its last anchor: the job refuses to anchor over it."""


def anchor_topic_spec(topic: str, replication_factor: int = 1) -> TopicSpec:
    return TopicSpec(
        topic, partitions=1, replication_factor=replication_factor, config=ANCHOR_TOPIC_CONFIG
    )


def anchor_message(service: str, topic: str, anchor: Anchor) -> Message:
    """An anchor as a CloudEvent record (key: the service)."""
    return Envelope(
        source=f"/avrr/{service}",
        type=ANCHOR_TYPE,
        subject=service,
        time=anchor.at,
        dataschema=ANCHOR_SCHEMA,
        dataversion=1,
        correlationid=f"audit-anchor:{service}:{anchor.sequence}",
        data={"sequence": anchor.sequence, "hash": anchor.hash},
    ).to_message(topic)


def anchor_from_message(message: Message) -> Anchor:
    envelope = Envelope.from_message(message)
    return Anchor(
        sequence=int(envelope.data["sequence"]),
        hash=str(envelope.data["hash"]),
        at=envelope.time,
    )


class AnchorLog(Protocol):
    """Where chain heads are published and read back (outside the service's database)."""

    async def publish(self, anchor: Anchor) -> None: ...

    async def latest(self) -> Anchor | None: ...

    async def stop(self) -> None: ...


class KafkaAnchorLog:
    """Anchors on a one-partition Kafka topic; the latest is its last record."""

    def __init__(self, settings: KafkaSettings, topic: str, service: str) -> None:
        self.settings = settings
        self.topic = topic
        self.service = service
        self._publisher = KafkaPublisher(settings, linger_ms=0)
        self._topic_ready = False

    async def publish(self, anchor: Anchor) -> None:
        if not self._topic_ready:
            await ensure_topics(self.settings, [anchor_topic_spec(self.topic)])
            self._topic_ready = True
        await self._publisher.publish([anchor_message(self.service, self.topic, anchor)])

    async def latest(self) -> Anchor | None:
        """The last anchor on the topic (None when there is none yet, or no topic)."""
        consumer = AIOKafkaConsumer(
            **self.settings.options(),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            if self.topic not in await consumer.topics():
                return None
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            end = (await consumer.end_offsets([partition]))[partition]
            if end == 0:
                return None
            consumer.seek(partition, end - 1)
            while True:
                batches = await consumer.getmany(partition, timeout_ms=5000)
                records = batches.get(partition, [])
                if not records:
                    raise TimeoutError(f"the last anchor of {self.topic} could not be read")
                last = records[-1]
                if last.offset >= end - 1:
                    return anchor_from_message(
                        Message(
                            topic=self.topic,
                            key=last.key,
                            value=last.value or b"",
                            headers=tuple(last.headers or ()),
                        )
                    )
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        await self._publisher.stop()


class InProcessAnchorLog:
    """Anchors on an in-process topic (embedded default: kept while the process runs)."""

    def __init__(self, bus: InProcessBus, topic: str, service: str) -> None:
        self.bus = bus
        self.topic = topic
        self.service = service

    async def publish(self, anchor: Anchor) -> None:
        await self.bus.append([anchor_message(self.service, self.topic, anchor)])

    async def latest(self) -> Anchor | None:
        records = self.bus.topics.get(self.topic)
        return anchor_from_message(records[-1]) if records else None

    async def stop(self) -> None:
        return None


class AuditAnchoring:
    """The periodic job's work: publish the chain head when it moved and still fits."""

    def __init__(self, audit: AuditLog, anchors: AnchorLog) -> None:
        self.audit = audit
        self.anchors = anchors
        # The head this replica anchored last: an idle log costs no broker round trip.
        self._anchored: tuple[int, str] | None = None

    async def anchor_once(self) -> int:
        """Publish the current head if it is new; 1 if one was published, else 0."""
        head = await self.audit.head()
        if head is None or head == self._anchored:
            return 0
        previous = await self.anchors.latest()
        if previous is not None:
            if (previous.sequence, previous.hash) == head:
                self._anchored = head
                return 0
            if await self.audit.hash_of(previous.sequence) != previous.hash:
                raise AuditChainBroken(
                    f"audit entry {previous.sequence} is missing or changed since it was anchored"
                )
            check = await self.audit.verify(after=(previous.sequence, previous.hash))
        else:
            check = await self.audit.verify()
        if check.first_broken_entry is not None:
            raise AuditChainBroken(
                f"audit entry {check.first_broken_entry} does not follow under the key"
            )
        await self.anchors.publish(Anchor(sequence=head[0], hash=head[1], at=datetime.now(UTC)))
        self._anchored = head
        return 1


def anchor_json(anchor: Anchor | None) -> dict[str, object] | None:
    """An anchor as /audit/verification reports it."""
    if anchor is None:
        return None
    return {"sequence": anchor.sequence, "hash": anchor.hash, "at": anchor.at.isoformat()}
