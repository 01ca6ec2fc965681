"""Issue 7: a household's whole return, through the REST APIs of the four services.

The scenario (tests/journey_steps.py) is written once and run twice: against
four separate OS processes over real Kafka and PostgreSQL (``service_processes``),
and against the embedded default (``build_app``: one app, SQLite, in-process bus).
A second household withdraws after its ticket was issued: travel cancels the
booking (MovementCancelled) and nothing later is published about that case.
The reintegration plan summary is in the household's language (issue 19), which
only travel's arrival tells reintegration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from journey_steps import (
    REINTEGRATION_OFFICER,
    SERVICES,
    Case,
    Platform,
    assert_journey_published,
    clients_of,
    embedded_platform,
    full_journey,
    withdraw_after_ticket,
)
from sqlalchemy.engine import make_url

from avrr_events import Envelope, testing
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.bus import Message
from avrr_events.testing import ServiceProcess, read_topic

StartProcesses = Callable[..., Awaitable[dict[str, ServiceProcess]]]
# The embedded default as the scenario tests run it (they import it from here).
embedded = embedded_platform


def topic_prefix(procs: dict[str, ServiceProcess]) -> str:
    """The fixture's AVRR_TOPIC_PREFIX, read back from its database names ``<prefix>_<service>``."""
    prefixes = set()
    for name, proc in procs.items():
        database = make_url(proc.database_url).database or ""
        assert database.endswith(f"_{name}"), database
        prefixes.add(database.removesuffix(f"_{name}"))
    [prefix] = prefixes
    return prefix


async def topic_size(settings: KafkaSettings, topic: str) -> int:
    """How many records the topic holds now (sum of its partitions' end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**settings.options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(**settings.options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def topic_records(settings: KafkaSettings, topic: str) -> list[Message]:
    """Every record the topic holds now, and any published while it is read.

    The services may still be publishing: a fetch can bring records beyond the
    end offsets counted first, so fewer than counted is the only failure.
    """
    count = await topic_size(settings, topic)
    records = await read_topic(settings, topic, count, timeout=30) if count else []
    assert len(records) >= count, f"{topic}: read {len(records)} of {count} records"
    return records


def kafka_events(
    settings: KafkaSettings, prefix: str
) -> Callable[[str], Awaitable[list[Envelope]]]:
    async def events(service: str) -> list[Envelope]:
        records = await topic_records(settings, f"{prefix}.{service}.events")
        return [Envelope.from_message(r) for r in records]

    return events


async def assert_plan_notice_in_the_households_language(p: Platform, case: Case) -> None:
    """The plan summary, asked without ?language or Accept-Language, is in the language
    intake recorded at referral (REFERRED_BY_NGO's "es"), carried to reintegration by
    eligibility's clearance, travel's movement and its ArrivalConfirmed."""
    path = f"/cases/{case.case_id}/notices/plan"
    notice = await p.get("reintegration", path, REINTEGRATION_OFFICER)
    assert notice.status_code == 200, notice.text
    assert notice.headers["content-language"] == "es", notice.headers


@asynccontextmanager
async def process_starter(
    request: pytest.FixtureRequest, directory: Path
) -> AsyncIterator[StartProcesses]:
    """What the ``service_processes`` fixture yields, for a fixture that cannot request it:
    a module-scoped one, or one whose other stack (the embedded default) needs no Kafka or
    PostgreSQL. Its own code is driven here; its clean-up (processes, databases, topics)
    runs on exit."""
    lifecycle = testing.service_processes.__wrapped__(  # type: ignore[attr-defined]
        request.getfixturevalue("postgres_admin_url"),
        request.getfixturevalue("kafka_bootstrap"),
        directory,
    )
    start: StartProcesses = await anext(lifecycle)
    try:
        yield start
    finally:
        await anext(lifecycle, None)


@asynccontextmanager
async def separate_processes(
    service_processes: StartProcesses, kafka_bootstrap: str
) -> AsyncIterator[Platform]:
    # Intake first: four processes creating the shared key table at once race
    # (check-then-CREATE in ServiceRuntime.start; one loser exits at start-up).
    procs = await service_processes("intake")
    procs.update(await service_processes(*SERVICES[1:]))
    prefix = topic_prefix(procs)
    async with AsyncExitStack() as stack:
        clients = await clients_of(stack, procs, SERVICES)
        yield Platform(clients, kafka_events(KafkaSettings(kafka_bootstrap), prefix))


async def test_household_returns(platform_on_each_stack: Platform) -> None:
    case = await full_journey(platform_on_each_stack, n=1)
    await assert_journey_published(platform_on_each_stack, case)
    await assert_plan_notice_in_the_households_language(platform_on_each_stack, case)


async def test_withdrawal_after_ticket_cancels_the_booking(
    platform_on_each_stack: Platform,
) -> None:
    await withdraw_after_ticket(platform_on_each_stack, n=2)
