"""Kafka adapter (aiokafka): idempotent publisher, consumer-group source, topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord
from pydantic import SecretStr

from avrr_events.bus import Message, OffsetStore, RecordTooLarge, patiently
from avrr_events.env_settings import EnvironmentSettings, from_env

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=Message)


def received(tp: TopicPartition, record: ConsumerRecord[bytes, bytes], kind: type[M]) -> M:
    """A record aiokafka read from ``tp`` as the bus's ``Message`` (or ``kind``, a Message
    that adds only fields with defaults, such as the CLI's dead letter): an absent value
    (a tombstone) reads as empty bytes."""
    return kind(
        topic=tp.topic,
        key=record.key,
        value=record.value if record.value is not None else b"",
        headers=tuple(record.headers or ()),
        partition=tp.partition,
        offset=record.offset,
    )


# What AIOKafkaProducer.send() uses when no partitioner is given: the Java
# client's murmur2 of the key, so a case's records land where they always did.
_PARTITIONER = DefaultPartitioner()


@dataclass(frozen=True)
class KafkaSettings:
    """Where the brokers are and how to reach them (SASL/TLS pass through as aiokafka kwargs)."""

    bootstrap_servers: str
    client_options: tuple[tuple[str, Any], ...] = ()

    def options(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers, **dict(self.client_options)}


class KafkaClientSettings(EnvironmentSettings):
    """How every Kafka client of the platform connects: plaintext, TLS and/or SASL.

    Nothing set: plaintext, no options. ``KAFKA_SECURITY_PROTOCOL`` is one of
    PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; with SASL, ``KAFKA_SASL_MECHANISM``
    (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and the user name and password; with
    SSL, ``KAFKA_SSL_CAFILE`` optionally names the CA bundle (default: the
    system's trust store). The password is a secret: never in a repr or a log.
    Each field is named like its variable, so that no other variable sets it.
    """

    kafka_security_protocol: str = from_env(
        "kafka_security_protocol", "KAFKA_SECURITY_PROTOCOL", ""
    )
    kafka_sasl_mechanism: str = from_env(
        "kafka_sasl_mechanism", "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = from_env("kafka_sasl_username", "KAFKA_SASL_USERNAME", None)
    kafka_sasl_password: SecretStr | None = from_env(
        "kafka_sasl_password", "KAFKA_SASL_PASSWORD", None, repr=False
    )
    kafka_ssl_cafile: str | None = from_env("kafka_ssl_cafile", "KAFKA_SSL_CAFILE", None)

    def options(self) -> dict[str, Any]:
        """aiokafka keyword arguments for SASL and/or TLS (the password revealed for it)."""
        protocol = self.kafka_security_protocol.strip().upper()
        if not protocol or protocol == "PLAINTEXT":
            return {}
        if protocol not in ("SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError(f"unsupported KAFKA_SECURITY_PROTOCOL {protocol!r}")
        options: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL"):
            if self.kafka_sasl_username is None:
                raise KeyError("KAFKA_SASL_USERNAME")
            if self.kafka_sasl_password is None:
                raise KeyError("KAFKA_SASL_PASSWORD")
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        if protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(cafile=self.kafka_ssl_cafile or None)
        return options


def kafka_client_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments for SASL and/or TLS from the ``KAFKA_*`` variables of
    ``environ`` (only those), or of the process (``KafkaClientSettings``)."""
    if environ is None:
        return KafkaClientSettings().options()
    return KafkaClientSettings.of(environ).options()


class KafkaPublisher:
    """Idempotent producer (acks=all): no duplicates from retries, order kept per partition."""

    def __init__(self, settings: KafkaSettings, *, linger_ms: int = 5) -> None:
        self.settings = settings
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **self.settings.options(),
                enable_idempotence=True,
                acks="all",
                linger_ms=self.linger_ms,
                max_batch_size=256 * 1024,
                request_timeout_ms=15000,
            )
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def reachable(self, timeout: float = 2.0) -> bool:
        """Whether the cluster answers a metadata request now (the readiness probe's question).

        Starts the producer if nothing was published yet. False while no
        broker answers within ``timeout``: a replica that cannot publish must
        not be sent commands whose events would only pile up in its outbox.
        """
        try:
            await asyncio.wait_for(self.start(), timeout)
            assert self._producer is not None
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
        except Exception:
            return False
        return True

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send every record, then wait for all acknowledgements (pipelined, not one by one).

        The records are packed into one batch per partition (the partition
        ``send()`` would choose: murmur2 of the key) and handed over with
        ``send_batch``: the producer's per-record ``send()`` cost the relay as
        much CPU as everything else it does. Per partition the batches keep the
        order of ``messages``; the idempotent producer numbers them as usual.

        After a failure the producer is replaced: an idempotent producer whose
        sequence numbers went astray must not be reused.
        """
        await self.start()
        assert self._producer is not None
        producer = self._producer
        try:
            partitions: dict[str, list[int]] = {}
            open_batches: dict[tuple[str, int], Any] = {}
            futures = []
            for m in messages:
                all_partitions = partitions.get(m.topic)
                if all_partitions is None:
                    all_partitions = partitions[m.topic] = list(
                        await producer.partitions_for(m.topic)
                    )
                tp = (m.topic, _PARTITIONER(m.key, all_partitions, all_partitions))
                batch = open_batches.get(tp)
                if batch is None:
                    batch = open_batches[tp] = producer.create_batch()
                headers = list(m.headers)
                if batch.append(key=m.key, value=m.value, timestamp=None, headers=headers) is None:
                    # full: send it and start the next one for that partition
                    futures.append(await producer.send_batch(batch, tp[0], partition=tp[1]))
                    batch = open_batches[tp] = producer.create_batch()
                    if (
                        batch.append(key=m.key, value=m.value, timestamp=None, headers=headers)
                        is None
                    ):
                        raise RecordTooLarge(
                            f"record of {len(m.value)} bytes exceeds a whole batch"
                        )
            for (topic, partition), batch in open_batches.items():
                # Complete: closing it lets the producer send it now instead of
                # lingering first (linger_ms is for records trickling in via send()).
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
            await asyncio.gather(*futures)
        except (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError) as exc:
            await self._discard()
            raise RecordTooLarge(f"the broker refused a record for its size ({exc})") from exc
        except BaseException:
            await self._discard()
            raise

    async def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except Exception as exc:
                log.debug("discarding producer: %s", exc)


@dataclass(eq=False)
class ResumeFromDatabase(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks each partition assigned to this member to where the service's database is.

    Where a partition resumes, in order:

    - the position the database recorded for it (``consumer_offsets``);
    - its beginning, where the database records positions of this group but
      none for this partition: the database never read a record there (a
      partition added since, or one with no record yet when it was backed up);
    - Kafka's committed offset (its beginning, for a new group) where the
      database records no position of the group at all: a new deployment, or
      the first start on a database from before the table. These are
      recorded at once for every partition of the group's topics, so that
      from then on a partition missing from the table is one never read.

    The broker's committed offsets run ahead of a database restored from a
    backup; resuming from them would skip what the backup lacks. So a
    database that cannot be read is waited for rather than worked around (an
    exception here would be logged and swallowed by aiokafka, and the member
    would consume from the committed offsets).
    """

    consumer: AIOKafkaConsumer
    group_id: str
    offsets: OffsetStore
    topics: Sequence[str]
    _: KW_ONLY
    retry_backoff: float = 0.5

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Pause the partitions, seek each to its start, resume them.

        Paused first: the fetcher starts on the committed offsets as soon as
        the partitions are assigned, and records it returned before the seek
        would be handed out twice.
        """
        if not assigned:
            return
        self.consumer.pause(*assigned)
        try:
            starts = await self._starts(assigned)
            for tp in assigned:
                self.consumer.seek(tp, starts[(tp.topic, tp.partition)])
        finally:
            self.consumer.resume(*assigned)
        log.info(
            "consumer group %s resumes from its database: %s",
            self.group_id,
            {f"{tp.topic}/{tp.partition}": starts[(tp.topic, tp.partition)] for tp in assigned},
        )

    async def _starts(self, assigned: Any) -> dict[tuple[str, int], int]:
        stored = await self._patiently(self.offsets.load)
        if not stored:
            stored = await self._patiently(self._committed)
            await self._patiently(lambda: self.offsets.save(stored))
        unread = [tp for tp in assigned if (tp.topic, tp.partition) not in stored]
        beginnings = (
            await self._patiently(lambda: self.consumer.beginning_offsets(unread)) if unread else {}
        )
        return {**{(tp.topic, tp.partition): o for tp, o in beginnings.items()}, **stored}

    async def _committed(self) -> dict[tuple[str, int], int]:
        """The group's committed offset (or the beginning) of every partition of its topics."""
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(self.consumer.partitions_for_topic(topic) or ())
        ]
        committed = {tp: await self.consumer.committed(tp) for tp in partitions}
        never = [tp for tp, offset in committed.items() if offset is None]
        beginnings = await self.consumer.beginning_offsets(never) if never else {}
        return {
            (tp.topic, tp.partition): offset if offset is not None else beginnings[tp]
            for tp, offset in committed.items()
        }

    async def _patiently(self, step: Callable[[], Awaitable[T]]) -> T:
        waiting = f"consumer group {self.group_id}: positions not read from its database yet"
        return await patiently(step, backoff=self.retry_backoff, log=log, waiting=waiting)


class KafkaSource:
    """A consumer group on some topics; offsets are committed only by ``commit``.

    Started with the service database's ``OffsetStore``, it resumes each
    partition from the database's position (``ResumeFromDatabase``); Kafka's
    committed offsets are still written, for monitoring and operators' tools.
    """

    def __init__(self, settings: KafkaSettings, group_id: str, topics: Iterable[str]) -> None:
        self.settings = settings
        self.group_id = group_id
        self.topics = tuple(topics)
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, offsets: OffsetStore | None = None) -> None:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self.settings.options(),
                group_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                metadata_max_age_ms=5000,
            )
            listener = (
                ResumeFromDatabase(consumer, self.group_id, offsets, self.topics)
                if offsets is not None
                else None
            )
            consumer.subscribe(self.topics, listener=listener)
            await consumer.start()
            self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def fetch(self, timeout_ms: int, max_records: int) -> list[Message]:
        assert self._consumer is not None, "start() the source first"
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        out: list[Message] = []
        for tp, records in batches.items():
            out.extend(received(tp, r, Message) for r in records)
        return out

    async def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet consumed, per assigned partition (high watermark minus position)."""
        if self._consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                out[(tp.topic, tp.partition)] = max(
                    0, highwater - await self._consumer.position(tp)
                )
        return out

    async def commit(self, messages: Sequence[Message]) -> None:
        """Commit past the highest offset handled per partition."""
        if not messages or self._consumer is None:
            return
        offsets: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            offsets[tp] = max(offsets.get(tp, -1), m.offset + 1)
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # Partitions moved to another replica; it will redeliver, the inbox
            # makes that harmless.
            log.info("offset commit after rebalance ignored: %s", exc)


@dataclass(frozen=True)
class TopicSpec:
    """A topic the platform creates at start-up (names, partitions, retention are config)."""

    name: str
    partitions: int = 6
    replication_factor: int = 1
    config: tuple[tuple[str, str], ...] = ()


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(**settings.options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name=s.name,
                num_partitions=s.partitions,
                replication_factor=s.replication_factor,
                topic_configs=dict(s.config),
            )
            for s in specs
            if s.name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                await admin.create_topics(new)
    finally:
        await admin.close()
