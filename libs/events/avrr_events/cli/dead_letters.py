"""``avrr dead-letters list|inspect|redrive <service>``: the dead-letter topic
``<prefix>.dlq.<service>``.

``dead-letters redrive`` republishes the ORIGINAL record (key, value, headers
  without the ``dlq_*`` ones, plus ``redriven_from``) to its original topic, so
  the service's consumer takes it as new: its inbox never recorded it. What
  was redriven is recorded in a compacted topic next to the dead-letter topic
  (``<prefix>.dlq.<service>.redriven``, key ``<partition>:<offset>``): a second
  redrive skips those records unless ``--again``. A redrive that fails between
  the two writes is harmless when repeated: the event id is the same, and the
  inbox of every consumer group skips an event it has already applied. A
  consumer-group offset on the dead-letter topic would only remember "up to
  here" and could not record ``--offset N`` picked out of order. Records
  dead-lettered as ``undecodable`` (not a CloudEvent at all) would fail again
  in every group that reads the topic, so ``--all`` leaves them unless
  ``--reason undecodable`` asks for them.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from rich.progress import (
    Progress,
)
from rich.table import Table

from avrr_events.adapters.kafka import (
    KafkaPublisher,
    KafkaSettings,
    TopicSpec,
    ensure_topics,
    received,
)
from avrr_events.bus import Message
from avrr_events.cli.base import (
    AsJson,
    Config,
    ServiceArg,
    config_of,
    err,
    fail,
    find_service,
    out,
    progress_bar,
    run,
)
from avrr_events.consumer import dead_letter_topic, legacy_dead_letter_topic
from avrr_events.env_settings import EnvironmentSettings, from_env
from avrr_events.envelope import Envelope
from avrr_events.web.service import Service

dead_letters_app = typer.Typer(help="The dead-letter topic of a service (<prefix>.dlq.<service>).")

REDRIVEN_HEADER = "redriven_from"
UNDECODABLE = "undecodable"


# --------------------------------------------------------------- dead letters --


@dataclass(frozen=True)
class DeadLetterRecord(Message):
    """One record of a dead-letter topic, a ``Message`` read from it: the original record
    plus the dlq_* headers, and when the broker took it (ms since the epoch)."""

    timestamp: int = -1

    @property
    def reason(self) -> str:
        return self.header("dlq_reason") or "?"

    @property
    def original_topic(self) -> str | None:
        return self.header("dlq_topic")

    @property
    def marker_key(self) -> str:
        return f"{self.partition}:{self.offset}"

    def payload(self) -> Any:
        try:
            return json.loads(self.value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self.value.decode(errors="replace")

    def original(self) -> Message:
        """The record as it was before it was dead-lettered, to its original topic."""
        if self.original_topic is None:
            fail(f"dead letter at offset {self.offset} has no dlq_topic header")
        headers = tuple((k, v) for k, v in self.headers if not k.startswith("dlq_"))
        headers = tuple((k, v) for k, v in headers if k != REDRIVEN_HEADER)
        origin = f"{self.topic}/{self.partition}@{self.offset}".encode()
        return Message(
            topic=self.original_topic,
            key=self.key,
            value=self.value,
            headers=(*headers, (REDRIVEN_HEADER, origin)),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "partition": self.partition,
            "reason": self.reason,
            "original": f"{self.original_topic}/{self.header('dlq_partition')}"
            f"@{self.header('dlq_offset')}",
            "type": self.header("ce_type"),
            "subject": self.header("ce_subject")
            or (self.key.decode(errors="replace") if self.key else None),
            "event_id": self.header("ce_id"),
            "attempts": self.header("dlq_attempts"),
            "error": self.header("dlq_error"),
            "dead_lettered_at": datetime.fromtimestamp(self.timestamp / 1000, UTC).isoformat(),
        }


def redriven_topic(dlq: str) -> str:
    """Where the redrives of a dead-letter topic are recorded (compacted, key partition:offset)."""
    return f"{dlq}.redriven"


async def topic_partitions(kafka: KafkaSettings, topic: str) -> list[int]:
    """The partitions of a topic; none if it does not exist (and it is not auto-created)."""
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described if t["topic"] == topic for p in t["partitions"])


async def read_topic_to_end(kafka: KafkaSettings, topic: str) -> list[DeadLetterRecord]:
    """Every record of a topic, from the beginning to the end it has now (none if it is absent)."""
    partitions = await topic_partitions(kafka, topic)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        found: list[DeadLetterRecord] = []
        pending = {tp for tp in tps if end[tp] > 0}
        for tp in list(pending):
            if await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                found.extend(
                    dataclasses.replace(received(tp, r, DeadLetterRecord), timestamp=r.timestamp)
                    for r in records
                    if r.offset < end[tp]
                )
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


@dead_letters_app.callback()
def dead_letters_options(
    ctx: typer.Context,
    topic: Annotated[
        str | None,
        typer.Option(
            "--topic",
            help="this dead-letter topic instead of <prefix>.dlq.<service>, e.g. the "
            "avrr.dlq.<prefix>.<service> that releases before it wrote",
        ),
    ] = None,
) -> None:
    """Dead letters: list, inspect, redrive (their redrives are recorded next to them)."""
    if topic is not None:
        root = ctx.find_root()
        root.obj = dataclasses.replace(config_of(ctx), dead_letter_topic=topic)


def dlq_of(config: Config, service: Service) -> str:
    if config.dead_letter_topic is not None:
        return config.dead_letter_topic
    return dead_letter_topic(config.settings().group(service.name))


async def legacy_dead_letters_note(config: Config, service: Service) -> str | None:
    """A pointer to dead letters left in the pre-prefix topic, if it still holds any."""
    if config.dead_letter_topic is not None:
        return None
    legacy = legacy_dead_letter_topic(config.settings().group(service.name))
    try:
        left = await read_topic_to_end(config.kafka(), legacy)
    except KafkaError:  # not ours to read (ACLs): nothing to point at
        return None
    if not left:
        return None
    return (
        f"{len(left)} dead letter(s) of an earlier release in {legacy}: "
        f"avrr dead-letters --topic {legacy} list|redrive {service.name}"
    )


async def dead_letters(config: Config, service: Service) -> list[DeadLetterRecord]:
    return await read_topic_to_end(config.kafka(), dlq_of(config, service))


async def redrives(config: Config, service: Service) -> dict[str, dict[str, Any]]:
    """What was redriven already: ``partition:offset`` -> the record of the redrive."""
    done: dict[str, dict[str, Any]] = {}
    for r in await read_topic_to_end(config.kafka(), redriven_topic(dlq_of(config, service))):
        if r.key is not None:
            done[r.key.decode()] = json.loads(r.value)
    return done


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context,
    service: ServiceArg,
    as_json: AsJson = False,
) -> None:
    """The service's dead letters: why, where from, what, and whether redriven."""

    async def work(config: Config) -> None:
        found = find_service(service)
        records = await dead_letters(config, found)
        done = await redrives(config, found)
        note = await legacy_dead_letters_note(config, found)
        if note is not None:
            err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        if as_json:
            for r in records:
                line = {**r.summary(), "redriven_at": done.get(r.marker_key, {}).get("at")}
                typer.echo(json.dumps(line))
            return
        table = Table(
            "offset",
            "reason",
            "original",
            "type",
            "subject",
            "error",
            "redriven",
            title=f"{dlq_of(config, found)}: {len(records)} dead letter(s)",
        )
        for r in records:
            s = r.summary()
            table.add_row(
                str(r.offset),
                s["reason"],
                s["original"],
                s["type"] or "-",
                s["subject"] or "-",
                (s["error"] or "")[:80],
                done.get(r.marker_key, {}).get("at", ""),
            )
        out.print(table)

    run(ctx, work)


@dead_letters_app.command("inspect")
def dead_letters_inspect(
    ctx: typer.Context,
    service: ServiceArg,
    offset: Annotated[int, typer.Argument(help="offset in the dead-letter topic")],
) -> None:
    """One dead letter as JSON: where it is, its headers and its payload."""

    async def work(config: Config) -> None:
        records = [
            r for r in await dead_letters(config, find_service(service)) if r.offset == offset
        ]
        if not records:
            fail(f"no dead letter at offset {offset} of {dlq_of(config, find_service(service))}")
        r = records[0]
        document = {
            "topic": r.topic,
            "partition": r.partition,
            "offset": r.offset,
            "key": r.key.decode(errors="replace") if r.key is not None else None,
            "headers": {k: v.decode(errors="replace") for k, v in r.headers},
            "payload": r.payload(),
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))

    run(ctx, work)


@dataclass(frozen=True)
class Redrive:
    record: DeadLetterRecord
    skipped: str | None = None  # why not redriven


def choose_redrives(
    records: Sequence[DeadLetterRecord],
    done: Iterable[str],
    *,
    offsets: Sequence[int],
    every: bool,
    reason: str | None,
    again: bool,
) -> list[Redrive]:
    """Which dead letters a redrive republishes, and why the others named are left."""
    if not offsets and not every:
        fail("name --offset N (repeatable) or --all")
    already = set(done)
    by_offset = {r.offset: r for r in records}
    missing = [o for o in offsets if o not in by_offset]
    if missing:
        fail(f"no dead letter at offset(s) {', '.join(map(str, missing))}")
    named = [by_offset[o] for o in offsets] if offsets else list(records)
    chosen: list[Redrive] = []
    for r in named:
        if reason is not None and r.reason != reason:
            continue
        if r.marker_key in already and not again:
            chosen.append(Redrive(r, "already redriven (--again to repeat)"))
        elif every and not offsets and r.reason == UNDECODABLE and reason != UNDECODABLE:
            chosen.append(Redrive(r, "undecodable: would fail again (--reason undecodable)"))
        else:
            chosen.append(Redrive(r))
    return chosen


async def redrive_dead_letters(
    config: Config,
    service: Service,
    *,
    offsets: Sequence[int] = (),
    every: bool = False,
    reason: str | None = None,
    again: bool = False,
    progress: Progress | None = None,
) -> list[Redrive]:
    """Republish dead letters to their original topics and record that they were."""
    kafka = config.kafka()
    dlq = dlq_of(config, service)
    plan = choose_redrives(
        await dead_letters(config, service),
        await redrives(config, service),
        offsets=offsets,
        every=every,
        reason=reason,
        again=again,
    )
    todo = [p.record for p in plan if p.skipped is None]
    if not todo:
        return plan
    marker_topic = redriven_topic(dlq)
    await ensure_topics(
        kafka,
        [
            TopicSpec(
                marker_topic,
                partitions=1,
                replication_factor=config.settings().topic_replication_factor,
                config=(("cleanup.policy", "compact"),),
            )
        ],
    )
    publisher = KafkaPublisher(kafka)
    task = progress.add_task("redriving", total=len(todo)) if progress else None
    by = OperatorSettings().avrr_operator or _user()
    try:
        for start in range(0, len(todo), 100):
            chunk = todo[start : start + 100]
            await publisher.publish([r.original() for r in chunk])
            at = datetime.now(UTC)
            await publisher.publish([redrive_marker(r, marker_topic, at, by) for r in chunk])
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
    finally:
        await publisher.stop()
    return plan


def redrive_marker(record: DeadLetterRecord, topic: str, at: datetime, by: str) -> Message:
    """The record of one redrive: a CloudEvent like every record on the platform's topics,
    keyed ``<partition>:<offset>`` (the topic is compacted on it)."""
    return Envelope(
        source="/avrr/cli",
        type="avrr.operations.DeadLetterRedriven",
        subject=record.marker_key,
        time=at,
        dataschema="urn:avrr:schema:avrr.operations.DeadLetterRedriven:v1",
        dataversion=1,
        correlationid=record.header("ce_correlationid") or record.marker_key,
        data={
            "at": at.isoformat(),
            "by": by,
            "to": record.original_topic,
            "reason": record.reason,
            "event_id": record.header("ce_id"),
        },
    ).to_message(topic)


class OperatorSettings(EnvironmentSettings):
    """Who redrives, as the marker records it (named like its variable); unset or empty:
    the login name."""

    avrr_operator: str | None = from_env("avrr_operator", "AVRR_OPERATOR", None)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dead_letters_app.command("redrive")
def dead_letters_redrive(
    ctx: typer.Context,
    service: ServiceArg,
    offset: Annotated[
        list[int] | None, typer.Option("--offset", help="a dead letter's offset (repeatable)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead letter not yet redriven")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="only dead letters with this dlq_reason")
    ] = None,
    again: Annotated[
        bool, typer.Option("--again", help="also those redriven before (the inbox skips repeats)")
    ] = False,
) -> None:
    """Republish dead letters to their original topics for the consumer to handle again.

    Deploy the fix first: the consumer handles the same bytes as before.
    """

    async def work(config: Config) -> None:
        found = find_service(service)
        with progress_bar() as bar:
            plan = await redrive_dead_letters(
                config,
                found,
                offsets=offset or [],
                every=all_,
                reason=reason,
                again=again,
                progress=bar,
            )
        table = Table("offset", "reason", "to", "result")
        for p in plan:
            result = p.skipped or "[green]redriven[/green]"
            table.add_row(str(p.record.offset), p.record.reason, p.record.original_topic, result)
        out.print(table)
        done = sum(p.skipped is None for p in plan)
        out.print(f"{done} redriven, {len(plan) - done} left")
        own = config.settings().topic(found.name)
        foreign = {p.record.original_topic for p in plan if p.skipped is None} - {own}
        if foreign:
            err.print(
                f"[yellow]note: {', '.join(sorted(t or '?' for t in foreign))} is read by other "
                "consumer groups too; they skip events they have applied (same event id)[/yellow]"
            )

    run(ctx, work)
