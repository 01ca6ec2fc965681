"""The faults: SIGKILLed service processes, a broker restart, a database restart, poison records.

Poison is published straight onto the service topics (as a broken or hostile
producer would) and must come out on the dead-letter topic of every consumer
group that reads the topic and takes the type in, with its reason, while the
healthy events around it flow on.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
from avrr_events.bus import Message
from chaos.infra import PrivateInfra, say
from chaos.services import Fleet


@dataclass(frozen=True)
class Poison:
    """One injected record and the dead-letter reason each group must give it (None: skipped)."""

    kind: str
    topic: str
    key: str
    message: Message
    event_type: str | None  # the ce_type it claims, if any


@dataclass
class FaultLog:
    events: list[str] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    broker_restarts: int = 0
    database_restarts: int = 0
    failed: list[str] = field(default_factory=list)  # faults that could not be injected

    def record(self, what: str) -> None:
        self.events.append(f"{datetime.now(UTC):%H:%M:%S} {what}")
        say(what)


async def kill_services(
    fleet: Fleet, log: FaultLog, rng: random.Random, every: float, until: asyncio.Event
) -> None:
    """Every ``every`` seconds (jittered +-50%), SIGKILL a random service and restart it."""
    while not until.is_set():
        try:
            await asyncio.wait_for(until.wait(), timeout=every * rng.uniform(0.5, 1.5))
            return
        except TimeoutError:
            pass
        name = rng.choice(sorted(fleet.procs))
        log.record(f"SIGKILL {name} (pid {fleet.procs[name].process.pid})")
        try:
            await fleet.kill_and_restart(name)
        except Exception as exc:  # reported; the verification will show what it cost
            log.failed.append(f"{name} did not come back: {type(exc).__name__}: {exc}"[:500])
            log.record(log.failed[-1])
            return
        log.record(f"{name} ready again")


async def restart_broker(infra: PrivateInfra, log: FaultLog, downtime: float) -> None:
    log.record(f"Kafka broker down for {downtime:g}s")
    await infra.restart_kafka(downtime)
    log.broker_restarts += 1
    log.record("Kafka broker up again")


async def restart_database(infra: PrivateInfra, log: FaultLog, downtime: float) -> None:
    log.record(f"PostgreSQL down for {downtime:g}s (fast shutdown)")
    await infra.restart_postgres(downtime)
    log.database_restarts += 1
    log.record("PostgreSQL up again")


def _headers(
    event_type: str, subject: str, version: int, source: str
) -> tuple[tuple[str, bytes], ...]:
    """CloudEvents binary-mode headers as the platform writes them."""
    attributes = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "dataschema": f"urn:avrr:chaos:{event_type}:{version}",
        "dataversion": str(version),
        "correlationid": str(uuid.uuid4()),
    }
    ce = tuple((f"ce_{k}", v.encode()) for k, v in attributes.items())
    return (("content-type", b"application/json"), *ce)


def poison_for(topic: str, service: str, known_type: str) -> list[Poison]:
    """Four poison records for one topic; ``known_type`` is a type some group takes in.

    - undecodable: not a CloudEvent at all (no headers, bytes that are not JSON);
    - unknown type: a well-formed CloudEvent of a type no service has (a newer
      producer's event): every group skips it, by design (forward compatible);
    - unsupported version: a known type at a version no consumer understands;
    - schema-invalid: a known type whose payload misses every required field.
    """
    source = f"/avrr/{service}"
    out: list[Poison] = []

    def add(kind: str, value: bytes, headers: tuple[tuple[str, bytes], ...], t: str | None) -> None:
        key = f"poison-{kind}-{uuid.uuid4().hex[:8]}"
        out.append(Poison(kind, topic, key, Message(topic, key.encode(), value, headers), t))

    add("undecodable", b"\xff\xfe\x00 definitely not an event", (), None)
    unknown = f"avrr.{service}.ChaosNoSuchEvent"
    add("unknown_type", b'{"x": 1}', _headers(unknown, "poison", 1, source), unknown)
    add(
        "unsupported_version",
        b'{"x": 1}',
        _headers(known_type, "poison", 99, source),
        known_type,
    )
    add(
        "invalid_payload",
        json.dumps({"unexpected": True}).encode(),
        _headers(known_type, "poison", 1, source),
        known_type,
    )
    return out


async def inject_poison(bootstrap: str, topics: dict[str, tuple[str, str]], log: FaultLog) -> None:
    """Publish the poison of every topic (``topic -> (service, known type)``)."""
    publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=bootstrap))
    try:
        batch: list[Poison] = []
        for topic, (service, known_type) in topics.items():
            batch.extend(poison_for(topic, service, known_type))
        await publisher.publish([p.message for p in batch])
        log.poison.extend(batch)
        log.record(f"published {len(batch)} poison records on {len(topics)} topics")
    finally:
        await publisher.stop()


EXPECTED_REASON = {
    "undecodable": "undecodable",
    "unsupported_version": "unsupported_version",
    "invalid_payload": "invalid_payload",
}


def expected_dead_letters(
    poison: list[Poison], groups: dict[str, tuple[list[str], frozenset[str]]]
) -> dict[str, list[tuple[str, str, str]]]:
    """Per group, the (original topic, key, reason) of each poison record it must dead-letter.

    ``groups``: group -> (its topics, the event types it takes in). A consumer
    skips types it does not take in before decoding them, so poison claiming
    such a type (and the unknown type, everywhere) is not dead-lettered.
    """
    out: dict[str, list[tuple[str, str, str]]] = {}
    for group, (topics, types) in groups.items():
        mine: list[tuple[str, str, str]] = []
        for p in poison:
            if p.topic not in topics or p.kind not in EXPECTED_REASON:
                continue
            if p.event_type is None or p.event_type in types:
                mine.append((p.topic, p.key, EXPECTED_REASON[p.kind]))
        out[group] = sorted(mine)
    return out
