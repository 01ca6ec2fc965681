"""Issue 8: public integration topics for government systems, read as a subscriber would.

The services run as separate processes on real Kafka and PostgreSQL; the
subscriber is another Kafka client altogether (confluent-kafka, librdkafka),
reading ``<prefix>.public.returns`` and ``<prefix>.public.cases.HN`` from the
beginning. Two households return to Honduras on the same day:

- household A gave no consent to share with the authorities: no per-case
  record of it exists, and the raw bytes of every public record (key, value,
  headers) hold none of its personal data nor any internal id;
- household B's mother consented to share her names and travel document
  (not her date of birth, not her son): the departure record carries exactly
  those fields, sealed; the ministry fetches the disclosure key from intake
  over REST with its ``authority`` token (Honduras) and opens them, another
  country's authority is refused the key; she then withdraws the consent:
  the key is refused from then on (410) and the arrival that follows
  publishes nothing about the case;
- the per-country counts of the day arrive once the day is over (both
  households travelled yesterday; the job looks every half second here), and
  a cell below the threshold (``AVRR_PUBLIC_MIN_HOUSEHOLDS=2`` here) is never
  published.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import sleep
from typing import Any

import httpx
import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from journey_steps import (
    CASEWORKER,
    OFFICE,
    PROGRAMME,
    RECEIVER,
    RECEIVING_OFFICE,
    TRAVEL_OFFICER,
    Case,
    Platform,
    booking,
    clear,
    clients_of,
    consent,
    embedded_clients,
    open_case,
    ready_to_travel,
    referral,
    request_return,
    status,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from avrr_events.bus import Message
from avrr_events.testing import ServiceProcess, eventually
from avrr_events.web.embedded import build_app

StartProcesses = Callable[..., Awaitable[dict[str, ServiceProcess]]]
SERVICES = ("intake", "eligibility", "travel")
MEDIC = {"X-AVRR-User": "doctor-1", "X-AVRR-Roles": "medical", "X-AVRR-Offices": OFFICE}
# Government systems: their token's offices claim names their country.
HONDURAS = {"X-AVRR-User": "hn-migracion", "X-AVRR-Roles": "authority", "X-AVRR-Offices": "HN"}
GUATEMALA = {"X-AVRR-User": "gt-migracion", "X-AVRR-Roles": "authority", "X-AVRR-Offices": "GT"}


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def raw(self) -> bytes:
        """Every byte a subscriber receives: key, value, header names and values."""
        parts = [self.key, self.value]
        for name, value in self.headers:
            parts += [name.encode(), value]
        return b"\x00".join(parts)

    def header(self, name: str) -> str:
        return dict(self.headers)[name].decode()

    @property
    def data(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.value)
        return value


_NO_LEADER_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


def _end_offsets(consumer: Consumer, partition: TopicPartition) -> tuple[int, int]:
    """Watermarks of a partition; a topic created a moment ago may have no leader yet."""
    for _attempt in range(40):
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0]
            if not (error.retriable() or error.code() in _NO_LEADER_YET):
                raise
            sleep(0.25)
    raise AssertionError(f"no leader for {partition} after 10 s")


def subscribe(bootstrap: str, topic: str) -> list[Record]:
    """Every record on ``topic`` now, read with confluent-kafka as a government system would."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ministry-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            return []  # not created yet: nothing was ever published on it
        ends = {}
        for p in described.partitions:
            _low, high = _end_offsets(consumer, TopicPartition(topic, p))
            if high > 0:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        records: list[Record] = []
        remaining = dict(ends)
        polls = 0
        while remaining and polls < 200:
            polls += 1
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            key, value = message.key(), message.value()
            headers = [(str(h[0]), _bytes(h[1])) for h in message.headers() or []]
            records.append(Record(topic, _bytes(key), _bytes(value), headers))
            partition, offset = message.partition(), message.offset()
            if offset is not None and offset + 1 >= remaining.get(partition or 0, 0):
                remaining.pop(partition or 0, None)
        assert not remaining, f"{topic}: could not read up to the end offsets {ends}"
        return records
    finally:
        consumer.close()


def _bytes(value: str | bytes | None) -> bytes:
    return value.encode() if isinstance(value, str) else (value or b"")


async def read_public(bootstrap: str, topic: str) -> list[Record]:
    return await asyncio.to_thread(subscribe, bootstrap, topic)


@asynccontextmanager
async def three_services(
    service_processes: StartProcesses,
) -> AsyncIterator[tuple[Platform, dict[str, ServiceProcess], str]]:
    env = {"AVRR_PUBLIC_MIN_HOUSEHOLDS": "2", "AVRR_PUBLIC_RETURNS_INTERVAL": "0.5"}
    procs = await service_processes("intake", **env)  # intake first (shared key table)
    procs.update(await service_processes(*SERVICES[1:], **env))
    prefix = procs["intake"].database_url.rsplit("/", 1)[1].removesuffix("_intake")
    async with AsyncExitStack() as stack:
        clients = await clients_of(stack, procs, SERVICES)

        yield Platform(clients), procs, prefix


async def ticket(p: Platform, case: Case) -> None:
    """Documents and fitness for both travellers, then the ticket (land, today)."""
    c = case.case_id
    await ready_to_travel(p, c, dict.fromkeys((case.mother, case.child), "passport"))
    ticket = booking(f"TS-{c[-8:]}", cost=None)
    await p.post("travel", f"/movements/{c}/ticket", ticket, TRAVEL_OFFICER, expect=200)


async def departs_sharing(p: Platform, case: Case, fields: list[str]) -> None:
    """The mother consents to share ``fields`` with the authorities; the household departs."""
    shared = consent(case.mother, purposes=["share_with_authorities"], shared_fields=fields)
    await p.post("intake", f"/cases/{case.case_id}/consents", shared, CASEWORKER, expect=201)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    await depart(p, case)


def yesterday(hour: int) -> datetime:
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(hour), tzinfo=UTC)


async def depart(p: Platform, case: Case) -> None:
    """Departure yesterday at noon (UTC): the day is over, so its counts are due."""
    c = case.case_id
    departure = {"departed_at": yesterday(12).isoformat()}
    await p.post("travel", f"/movements/{c}/departure", departure, TRAVEL_OFFICER, expect=200)
    await p.until(
        "travel", f"/movements/{c}", status("departed"), TRAVEL_OFFICER, hop="departure", since=0
    )


async def arrive(p: Platform, case: Case) -> None:
    arrival = {
        "confirmed_by": "receiving_office",
        "confirmer_id": RECEIVING_OFFICE,
        "arrived_at": yesterday(18).isoformat(),
    }
    await p.post("travel", f"/movements/{case.case_id}/arrival", arrival, RECEIVER, expect=200)


async def intake_has_handled(procs: dict[str, ServiceProcess], event_type: str, case: str) -> None:
    """Wait until intake's consumer took the event in and its public queue is empty."""
    engine = create_async_engine(procs["intake"].database_url)
    try:

        async def handled() -> bool:
            async with engine.connect() as conn:
                seen = await conn.scalar(
                    text("SELECT count(*) FROM inbox WHERE type = :t AND subject = :s"),
                    {"t": event_type, "s": case},
                )
                queued = await conn.scalar(text("SELECT count(*) FROM public_outbox"))
            return bool(seen) and queued == 0

        await eventually(handled, timeout=60)
    finally:
        await engine.dispose()


async def disclosure_key(p: Platform, key_id: str, authority: dict[str, str]) -> httpx.Response:
    return await p.get("intake", f"/public/disclosure-keys/{key_id}", authority)


async def unseal(p: Platform, record: dict[str, Any], authority: dict[str, str]) -> list[Any]:
    """A government system opens a record: one key per returnee, over REST, then AES-GCM."""
    returnees = []
    for sealed in record["returnees"]:
        response = await disclosure_key(p, sealed["key_id"], authority)
        assert response.status_code == 200, response.text
        key = base64.b64decode(response.json()["key"])
        plain = AESGCM(key).decrypt(
            base64.b64decode(sealed["nonce"]),
            base64.b64decode(sealed["ct"]),
            sealed["key_id"].encode(),
        )
        returnees.append(json.loads(plain))
    return returnees


def personal_values(case: Case, n: int) -> dict[str, bytes]:
    """What must never reach a public topic without consent (the referral's own values)."""
    household = referral(n)["household"]
    mother, child = household
    return {
        "mother's date of birth": mother["date_of_birth"].encode(),
        "child's given names": child["given_names"].encode(),
        "child's date of birth": child["date_of_birth"].encode(),
        "case id": case.case_id.encode(),
        "mother's person id": case.mother.encode(),
        "child's person id": case.child.encode(),
    }


async def test_public_topics_carry_counts_and_only_the_consented_fields(
    service_processes: StartProcesses, kafka_bootstrap: str
) -> None:
    async with three_services(service_processes) as (p, procs, prefix):
        returns_topic = f"{prefix}.public.returns"
        cases_topic = f"{prefix}.public.cases.HN"

        # What subscribers build against is served: the channels and the payload schemas.
        for service, channel, event_type in (
            ("intake", "public.cases", "avrr.public.ReturnDeparted"),
            ("travel", "public.returns", "avrr.public.ReturnsCounted"),
        ):
            asyncapi = (await p.get(service, "/asyncapi.json", CASEWORKER)).json()
            assert asyncapi["channels"][channel]["address"].startswith(f"{prefix}.public.")
            schemas = (await p.get(service, "/events/schemas", CASEWORKER)).json()
            assert f"urn:avrr:schema:{event_type}:v1" in schemas

        # A: no consent to share with the authorities. Departs and arrives.
        a = await open_case(p, 801)
        await request_return(p, a)
        await clear(p, a)
        await ticket(p, a)
        await depart(p, a)
        await arrive(p, a)

        # B: the mother shares her names and travel document; her son nothing.
        b = await open_case(p, 802)
        await departs_sharing(p, b, ["given_names", "family_name", "travel_document"])

        async def departure_published() -> bool:
            return len(await read_public(kafka_bootstrap, cases_topic)) >= 1

        await eventually(departure_published, timeout=60, interval=0.5)
        [departed] = await read_public(kafka_bootstrap, cases_topic)
        assert departed.header("ce_type") == "avrr.public.ReturnDeparted"
        assert departed.header("ce_specversion") == "1.0"
        assert departed.key.decode() == departed.header("ce_subject")
        data = departed.data
        [sealed] = data.pop("returnees")
        assert data == {
            "case_reference": departed.key.decode(),
            "country": "HN",
            "departed_on": yesterday(12).date().isoformat(),
        }
        assert set(sealed) == {"alg", "key_id", "nonce", "ct"} and sealed["alg"] == "A256GCM"
        for what, value in personal_values(b, 802).items():
            assert value not in departed.raw, f"{what} of B is on the public topic"
        for name in (b"Dania", b"Reyes", b"F123456"):
            assert name not in departed.raw, "a consented field is on the topic in plaintext"
        # The ministry of Honduras opens exactly the consented fields; Guatemala's may not.
        assert await unseal(p, {"returnees": [sealed]}, HONDURAS) == [
            {
                "given_names": "Dania Marisol",
                "family_name": "Reyes Cruz",
                "travel_document": {"type": "passport", "number": "F123456"},
            }
        ]
        elsewhere = await disclosure_key(p, sealed["key_id"], GUATEMALA)
        assert elsewhere.status_code == 403, elsewhere.text
        refused = await disclosure_key(p, sealed["key_id"], CASEWORKER)
        assert refused.status_code == 403, refused.text

        # B withdraws the consent; her arrival then publishes nothing about her.
        await p.post(
            "intake",
            f"/cases/{b.case_id}/consents/share_with_authorities/withdrawal",
            {"person_id": b.mother, "reason": "safety_concerns"},
            CASEWORKER,
            expect=200,
        )
        withdrawn = await disclosure_key(p, sealed["key_id"], HONDURAS)
        assert withdrawn.status_code == 410, "the key is released after the withdrawal"
        await arrive(p, b)
        await intake_has_handled(procs, "avrr.travel.ArrivalConfirmed", b.case_id)
        await intake_has_handled(procs, "avrr.travel.ArrivalConfirmed", a.case_id)

        # The counts: both households departed and arrived today; one alone was never shown.
        async def both_counted() -> bool:
            records = await read_public(kafka_bootstrap, returns_topic)
            return {r.data["movement"] for r in records if r.data["households"] == 2} == {
                "departed",
                "arrived",
            }

        await eventually(both_counted, timeout=60, interval=0.5)
        counts = await read_public(kafka_bootstrap, returns_topic)
        for record in counts:
            assert record.key == b"HN" and record.header("ce_type") == "avrr.public.ReturnsCounted"
            assert record.data == {
                "country": "HN",
                "programme_id": PROGRAMME,
                "day": yesterday(12).date().isoformat(),
                "movement": record.data["movement"],
                "households": 2,
                "people": 4,
            }, "a cell below the threshold was published"

        # Nothing personal anywhere: A never, B only before the withdrawal, and only consented.
        per_case = await read_public(kafka_bootstrap, cases_topic)
        assert [r.raw for r in per_case] == [departed.raw], "a record after the withdrawal"
        for record in [*per_case, *counts]:
            for what, value in personal_values(a, 801).items():
                assert value not in record.raw, f"{what} of A is on {record.topic}"
            for what, value in personal_values(b, 802).items():
                assert value not in record.raw, f"{what} of B is on {record.topic}"
        for record in counts:
            for name in (b"Dania", b"Reyes", b"F123456", b"Josu"):
                assert name not in record.raw


async def test_the_embedded_default_publishes_the_public_records_on_its_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run`` (SQLite, in-process bus) renders and publishes the same public records."""
    monkeypatch.setenv("AVRR_PUBLIC_MIN_HOUSEHOLDS", "1")
    monkeypatch.setenv("AVRR_PUBLIC_RETURNS_INTERVAL", "0.5")
    monkeypatch.chdir(tmp_path)
    app = build_app(tmp_path)
    runtimes = app.state.runtimes
    bus = runtimes["intake"].bus
    assert bus is not None and runtimes["travel"].bus is bus

    def on(topic: str) -> list[Message]:
        return list(bus.topics.get(topic, []))

    async with app.router.lifespan_context(app), AsyncExitStack() as stack:
        p = Platform(await embedded_clients(stack, app, SERVICES))
        case = await open_case(p, 803)
        await departs_sharing(p, case, ["family_name"])

        async def published() -> bool:
            return bool(on("avrr.public.cases.HN")) and bool(on("avrr.public.returns"))

        await eventually(published, timeout=30)
        [record] = on("avrr.public.cases.HN")
        assert b"Reyes" not in record.value
        assert await unseal(p, json.loads(record.value), HONDURAS) == [
            {"family_name": "Reyes Cruz"}
        ]
        [counted] = on("avrr.public.returns")
        assert json.loads(counted.value)["households"] == 1 and counted.key == b"HN"
