"""The `avrr` CLI, run in-process (typer's CliRunner, in a thread: the commands run their own
event loop) against real Kafka and PostgreSQL and a sample service of the tests' own."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sample_domain import (
    CaseSummary,
    NoteAdded,
    SampleCase,
    read_models,
    registry,
    summary_rows,
    total_notes,
)
from sqlalchemy import MetaData, select
from test_envelope import sdk_decode
from typer.testing import CliRunner, Result

from avrr_events import Cause, DeadLetter, Repository, cli, tables
from avrr_events.adapters.database import Database
from avrr_events.cli.base import find_service
from avrr_events.cli.topics import list_topics
from avrr_events.consumer import HandlerContext
from avrr_events.personal import ERASED, MasterKey, PersonalDataCipher, SqlKeyStore
from avrr_events.settings import ServiceSettings
from avrr_events.testing import ServiceProcess, eventually, read_topic
from avrr_events.web.embedded import discover
from avrr_events.web.service import Service, ServiceRuntime


class PoisonGuard:
    """A reaction that rejects notes saying "poison" until the fix is "deployed"."""

    def __init__(self) -> None:
        self.fixed = False

    async def __call__(self, _ctx: HandlerContext, event: Any) -> None:
        if isinstance(event, NoteAdded) and event.text == "poison" and not self.fixed:
            raise DeadLetter("notes saying poison are not handled yet")


@dataclass
class Sample:
    """The sample service as an installed service would be, and the CLI's options for it."""

    service: Service
    guard: PoisonGuard
    settings: ServiceSettings
    options: list[str]
    env: dict[str, str | None] = field(default_factory=lambda: {"AVRR_DEV": "1"})

    def runtime(self) -> ServiceRuntime:
        return ServiceRuntime(self.service, self.settings)

    async def avrr(self, *args: str, input: str | None = None) -> Result:
        return await avrr(*self.options, *args, env=self.env, input=input)


async def avrr(
    *args: str, env: Mapping[str, str | None] | None = None, input: str | None = None
) -> Result:
    """Run the CLI as `avrr <args>` would, in a worker thread."""
    runner = CliRunner()

    def invoke() -> Result:
        return runner.invoke(cli.app, list(args), env=env, input=input)

    return await asyncio.to_thread(invoke)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def refused(result: Result) -> str:
    assert result.exit_code == 1, result.output
    return result.output


@pytest.fixture
def sample(
    database_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, topic_prefix: str
) -> Iterator[Sample]:
    guard = PoisonGuard()
    service = Service(
        name="sample",
        registry=registry,
        router=APIRouter(),
        projections=lambda _rt: [CaseSummary()],
        reactions={NoteAdded.event_type: [guard]},
        read_models=[read_models],
    )
    monkeypatch.setattr(cli.base, "installed_services", lambda: [service, *discover()])
    prefix = topic_prefix  # deleted after the test, with the dead-letter topics
    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        dev=True,
        relay_poll_interval=0.1,
    )
    options = ["--database-url", database_url, "--kafka", kafka_bootstrap, "--topic-prefix", prefix]
    yield Sample(service, guard, settings, options)


@pytest.fixture
async def running(sample: Sample) -> AsyncIterator[ServiceRuntime]:
    async with sample.runtime().running() as runtime:
        yield runtime


async def write_cases(runtime: ServiceRuntime, notes: dict[str, list[str]]) -> int:
    repo = Repository(runtime.store, registry, SampleCase, source="/avrr/sample")
    for case_id, texts in notes.items():
        case = SampleCase(case_id)
        case.open("GT-GUA")
        for text in texts:
            case.add_note(text)
        await repo.save(case, Cause(f"corr-{case_id}"))
    return sum(1 + len(t) for t in notes.values())


async def notes_of(runtime: ServiceRuntime) -> int:
    async with runtime.db.engine.connect() as conn:
        return await total_notes(conn)


# ---------------------------------------------------------------- dead letters --


async def test_a_dead_letter_is_listed_inspected_and_redriven_once_after_the_fix(
    sample: Sample, running: ServiceRuntime
) -> None:
    await write_cases(running, {"case-1": ["fine", "poison"]})

    async def dead_lettered() -> bool:
        return running.consumer.stats.dead_lettered == 1 and running.consumer.stats.applied == 2

    await eventually(dead_lettered)
    assert await notes_of(running) == 1

    listed = ok(await sample.avrr("dead-letters", "list", "sample"))
    assert "1 dead letter(s)" in listed
    assert "rejected" in listed and "avrr.sample.NoteAdded" in listed and "case-1" in listed
    [line] = ok(await sample.avrr("dead-letters", "list", "sample", "--json")).splitlines()
    summary = json.loads(line)
    assert summary["offset"] == 0 and summary["reason"] == "rejected"
    assert summary["original"].startswith(f"{running.topic}/")
    assert summary["error"] == "notes saying poison are not handled yet"
    assert summary["redriven_at"] is None

    inspected = json.loads(ok(await sample.avrr("dead-letters", "inspect", "sample", "0")))
    assert inspected["payload"] == {"text": "poison", "author": "caseworker"}
    assert inspected["key"] == "case-1"
    assert inspected["headers"]["dlq_reason"] == "rejected"
    assert inspected["headers"]["ce_type"] == "avrr.sample.NoteAdded"
    assert "offset 7" in refused(await sample.avrr("dead-letters", "inspect", "sample", "7"))

    # Redriving before the fix only dead-letters it again: deploy the fix first.
    sample.guard.fixed = True
    redriven = ok(await sample.avrr("dead-letters", "redrive", "sample", "--all"))
    assert "1 redriven, 0 left" in redriven

    async def applied() -> bool:
        return await notes_of(running) == 2

    await eventually(applied)

    again = ok(await sample.avrr("dead-letters", "redrive", "sample", "--all"))
    assert "already redriven" in again and "0 redriven, 1 left" in again
    [line] = ok(await sample.avrr("dead-letters", "list", "sample", "--json")).splitlines()
    assert json.loads(line)["redriven_at"] is not None

    # Forced once more, the consumer's inbox recognises the event: still applied once.
    duplicates = running.consumer.stats.duplicates
    forced = ok(await sample.avrr("dead-letters", "redrive", "sample", "--offset", "0", "--again"))
    assert "1 redriven" in forced

    async def skipped() -> bool:
        return running.consumer.stats.duplicates > duplicates

    await eventually(skipped)
    assert await notes_of(running) == 2
    assert running.consumer.stats.dead_lettered == 1


async def test_redrive_needs_offsets_or_all_and_keeps_undecodable_records_back(
    sample: Sample, running: ServiceRuntime
) -> None:
    from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
    from avrr_events.bus import Message

    kafka = KafkaSettings(bootstrap_servers=str(sample.settings.kafka_bootstrap_servers))
    publisher = KafkaPublisher(kafka)
    try:
        await publisher.publish([Message(topic=running.topic, key=b"x", value=b"not an event")])
    finally:
        await publisher.stop()

    async def dead_lettered() -> bool:
        return running.consumer.stats.dead_lettered == 1

    await eventually(dead_lettered)
    assert "--all" in refused(await sample.avrr("dead-letters", "redrive", "sample"))
    kept = ok(await sample.avrr("dead-letters", "redrive", "sample", "--all"))
    assert "undecodable: would fail again" in kept and "0 redriven" in kept
    asked = ok(
        await sample.avrr("dead-letters", "redrive", "sample", "--all", "--reason", "undecodable")
    )
    assert "1 redriven" in asked

    async def dead_lettered_again() -> bool:
        return running.consumer.stats.dead_lettered == 2

    await eventually(dead_lettered_again)
    listed = [
        json.loads(line)
        for line in ok(await sample.avrr("dead-letters", "list", "sample", "--json")).splitlines()
    ]
    assert [d["reason"] for d in listed] == ["undecodable", "undecodable"]
    assert listed[0]["redriven_at"] is not None and listed[1]["redriven_at"] is None
    second = json.loads(ok(await sample.avrr("dead-letters", "inspect", "sample", "1")))
    assert second["headers"]["redriven_from"].endswith("/0@0"), "the lineage of a redrive"


async def test_dead_letters_are_under_the_topic_prefix_and_older_ones_are_still_redriven(
    sample: Sample, running: ServiceRuntime
) -> None:
    """``<prefix>.dlq.<service>``, so the deployment's prefixed ACLs cover it; the
    ``avrr.dlq.<prefix>.<service>`` of earlier releases is pointed at and redriven."""
    from avrr_events.adapters.kafka import KafkaPublisher, KafkaSettings
    from avrr_events.bus import Message

    prefix = sample.settings.topic_prefix
    kafka = KafkaSettings(bootstrap_servers=str(sample.settings.kafka_bootstrap_servers))
    publisher = KafkaPublisher(kafka)
    try:
        await publisher.publish([Message(topic=running.topic, key=b"x", value=b"not an event")])

        async def dead_lettered() -> bool:
            return running.consumer.stats.dead_lettered == 1

        await eventually(dead_lettered)
        dead = json.loads(ok(await sample.avrr("dead-letters", "inspect", "sample", "0")))
        assert dead["topic"] == f"{prefix}.dlq.sample"
        listed = await sample.avrr("dead-letters", "list", "sample")
        assert "earlier release" not in listed.output

        # A dead letter an earlier release left in the topic outside the prefix.
        legacy = f"avrr.dlq.{prefix}.sample"
        headers = tuple((k, v.encode()) for k, v in dead["headers"].items())
        await publisher.publish([Message(topic=legacy, key=b"x", value=b"old", headers=headers)])
    finally:
        await publisher.stop()
    noted = await sample.avrr("dead-letters", "list", "sample")
    assert f"avrr dead-letters --topic {legacy} list|redrive sample" in noted.output
    old = json.loads(
        ok(await sample.avrr("dead-letters", "--topic", legacy, "inspect", "sample", "0"))
    )
    assert old["topic"] == legacy and old["payload"] == "old"
    redriven = ok(
        await sample.avrr(
            "dead-letters",
            "--topic",
            legacy,
            "redrive",
            "sample",
            "--all",
            "--reason",
            "undecodable",
        )
    )
    assert "1 redriven" in redriven

    async def back_in_the_new_topic() -> bool:
        return running.consumer.stats.dead_lettered == 2

    await eventually(back_in_the_new_topic)
    again = json.loads(ok(await sample.avrr("dead-letters", "inspect", "sample", "1")))
    assert again["headers"]["redriven_from"].startswith(f"{legacy}/")
    [marker] = await read_topic(kafka, f"{legacy}.redriven", 1)
    assert sdk_decode(marker).get_data()["reason"] == "undecodable", "a CloudEvent, too"


async def test_an_operator_sees_outbox_rows_set_aside_and_can_release_them(
    sample: Sample, running: ServiceRuntime
) -> None:
    repo = Repository(running.store, registry, SampleCase, source="/avrr/sample")
    big = SampleCase("big-cli")
    big.open("GT-GUA")
    big.add_note("x" * 1_500_000)  # over the broker's message.max.bytes (about 1 MiB)
    await repo.save(big, Cause("corr-big"))

    async def set_aside() -> bool:
        return running.relay.set_aside == 1

    await eventually(set_aside, timeout=60)
    [row] = [
        json.loads(line)
        for line in ok(await sample.avrr("outbox", "set-aside", "sample", "--json")).splitlines()
    ]
    assert row["subject"] == "big-cli" and row["type"] == "avrr.sample.NoteAdded"
    assert row["reason"].startswith("too_large: record of ")
    table = ok(await sample.avrr("outbox", "set-aside", "sample"))
    assert "1 outbox row(s) set aside" in table
    released = ok(await sample.avrr("outbox", "release", "sample", "--id", str(row["id"])))
    assert "1 row(s) released" in released

    async def refused_again() -> bool:  # the limit was not raised: set aside once more
        return running.relay.set_aside == 2

    await eventually(refused_again, timeout=60)


# -------------------------------------------------------------------- rebuild --


async def test_rebuild_refuses_while_the_consumer_runs_and_then_equals_the_live_read_model(
    sample: Sample,
) -> None:
    runtime = sample.runtime()
    async with runtime.running():
        total = await write_cases(
            runtime, {f"case-{n}": [f"note {i}" for i in range(n % 4)] for n in range(9)}
        )

        async def live() -> bool:
            return runtime.consumer.stats.applied == total

        await eventually(live)
        async with runtime.db.engine.connect() as conn:
            before = await summary_rows(conn)
        running_refusal = refused(await sample.avrr("rebuild", "sample", "--all"))
        assert "has 1 member(s)" in running_refusal and "--force" in running_refusal

    assert "known: case_summary" in refused(await sample.avrr("rebuild", "sample"))
    misnamed = refused(
        await avrr(
            *sample.options, "--topic-prefix", "other", "rebuild", "sample", "--all", env=sample.env
        )
    )
    assert "no journal of consumer group other.sample" in misnamed
    rebuilt = ok(await sample.avrr("rebuild", "sample", "case_summary", "--batch-size", "4"))
    assert "case_summary" in rebuilt and str(total) in rebuilt

    db = Database(str(sample.settings.database_url))
    try:
        async with db.engine.connect() as conn:
            assert await summary_rows(conn) == before
            position = await conn.scalar(
                select(tables.projection_checkpoints.c.position).where(
                    tables.projection_checkpoints.c.name == "case_summary"
                )
            )
            head = await conn.scalar(select(tables.inbox.c.id).order_by(tables.inbox.c.id.desc()))
        assert position == head
    finally:
        await db.dispose()


async def test_rebuilding_intakes_read_models_after_it_stopped_gives_them_back(
    service_processes: Any,
) -> None:
    from sqlalchemy.engine import make_url

    intake_service = find_service("intake")
    intake: ServiceProcess = (await service_processes("intake"))["intake"]
    async with httpx.AsyncClient(base_url=intake.url, headers=CASEWORKER) as http:
        for n in range(3):
            person = {**REFERRAL["household"][0], "given_names": f"P{n}"}
            body = {**REFERRAL, "household": [person]}
            created = await http.post("/referrals", json=body)
            assert created.status_code == 201, created.text

        async def listed() -> bool:
            return len((await http.get("/cases")).json()["items"]) == 3

        await eventually(listed)
    intake.process.terminate()
    await intake.process.wait()

    url = make_url(intake.database_url)
    prefix = str(url.database).removesuffix("_intake")  # how service_processes names them
    keys = url.set(database=f"{prefix}_keys").render_as_string(hide_password=False)
    options = ["--database-url", intake.database_url, "--keystore-url", keys]
    options += ["--topic-prefix", prefix]
    before = await read_model_rows(intake.database_url, intake_service.read_models)
    assert any(before.values())
    rebuilt = ok(await avrr(*options, "rebuild", "intake", "--all", env={"AVRR_DEV": "1"}))
    for name in ("intake_case_files", "intake_case_timeline", "intake_situational_reports"):
        assert name in rebuilt
    assert re.search(r"intake_case_files\s*│\s*3\s", rebuilt), "three referrals replayed"
    assert await read_model_rows(intake.database_url, intake_service.read_models) == before


async def read_model_rows(url: str, metadatas: Sequence[MetaData]) -> dict[str, list[Any]]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            out: dict[str, list[Any]] = {}
            for metadata in metadatas:
                for table in metadata.sorted_tables:
                    rows = await conn.execute(select(table))
                    out[table.name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
            return out
    finally:
        await db.dispose()


# --------------------------------------------------------- schema, topics, setup --


async def test_schema_commands_print_valid_json_documents() -> None:
    document = json.loads(ok(await avrr("schema", "asyncapi", "intake")))
    assert document["asyncapi"] == "3.0.0"
    assert "avrr.dlq.intake" in json.dumps(document["channels"])
    assert document["channels"]["public.cases"]["address"] == "avrr.public.cases.{country}"
    schemas = json.loads(ok(await avrr("schema", "json", "intake")))
    assert any("ReferralReceived" in name for name in schemas)
    assert all(s["type"] == "object" for s in schemas.values())
    assert "unknown service 'nowhere'" in refused(await avrr("schema", "json", "nowhere"))


async def test_the_module_and_the_console_script_run_as_processes() -> None:
    module = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "avrr_events.cli",
        "schema",
        "asyncapi",
        "travel",
        stdout=asyncio.subprocess.PIPE,
    )
    printed, _ = await module.communicate()
    assert module.returncode == 0
    assert json.loads(printed)["info"]["title"]
    script = Path(sys.executable).with_name("avrr")
    helped = await asyncio.create_subprocess_exec(
        str(script), "--help", stdout=asyncio.subprocess.PIPE
    )
    usage, _ = await helped.communicate()
    assert helped.returncode == 0 and b"dead-letters" in usage


async def test_topics_create_is_idempotent(kafka_bootstrap: str, topic_prefix: str) -> None:
    prefix = ["--kafka", kafka_bootstrap, "--topic-prefix", topic_prefix]
    first = ok(await avrr(*prefix, "topics", "create", "intake", "travel"))
    second = ok(await avrr(*prefix, "topics", "create", "intake", "travel"))
    # four event topics, two dead-letter topics, two audit-anchor topics, travel's
    # public topic of returns per country
    assert first.count("created") == 9
    assert "created" not in second and second.count("exists") == 9
    topics = await list_topics(_kafka(kafka_bootstrap))
    assert {
        f"{prefix[3]}.dlq.intake",
        f"{prefix[3]}.reintegration.events",
        f"{prefix[3]}.public.returns",
        f"{prefix[3]}.audit.intake",
    } <= topics


def _kafka(bootstrap: str) -> Any:
    from avrr_events.adapters.kafka import KafkaSettings

    return KafkaSettings(bootstrap_servers=bootstrap)


async def test_services_and_setup(sample: Sample) -> None:
    listed = ok(await avrr("services"))
    for name in ("intake", "eligibility", "travel", "reintegration"):
        assert f"avrr.{name}.events" in listed
    set_up = ok(await sample.avrr("setup", "sample"))
    assert f"{sample.settings.topic_prefix}.sample.events" in set_up
    db = Database(str(sample.settings.database_url))
    try:
        async with db.engine.connect() as conn:
            assert await summary_rows(conn) == [], "the read model's table exists"
    finally:
        await db.dispose()
    assert "unknown service" in refused(await avrr("serve", "nowhere"))


async def test_unreachable_servers_and_a_missing_master_key_are_one_line_errors(
    sample: Sample,
) -> None:
    unreachable = refused(await avrr("--kafka", "127.0.0.1:1", "dead-letters", "list", "intake"))
    assert "error: KafkaConnectionError" in unreachable and "Traceback" not in unreachable
    no_key = refused(
        await avrr(
            *sample.options,
            "rebuild",
            "sample",
            "--all",
            env={"AVRR_DEV": None, "AVRR_MASTER_KEY": None},
        )
    )
    assert "AVRR_MASTER_KEY is not set" in no_key


# -------------------------------------------------------------------- erasure --


async def test_erase_subject_shreds_the_key_only_when_the_id_is_typed_again(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.create_schema()
    cipher = PersonalDataCipher(SqlKeyStore(db, MasterKey.from_env(allow_dev=True)))
    try:
        secret = await cipher.encrypt("person-7", {"name": "Dania"})
        options = ["--keystore-url", database_url]
        assert "differ" in refused(
            await avrr(*options, "erase", "subject", "person-7", "--confirm", "person-8")
        )
        assert await cipher.decrypt(secret) == {"name": "Dania"}
        typed = ok(await avrr(*options, "erase", "subject", "person-7", input="person-7\n"))
        assert "person-7: key deleted" in typed
        assert await cipher.decrypt(secret) is ERASED
        assert "no key" in ok(
            await avrr(*options, "erase", "subject", "person-7", "--confirm", "person-7")
        )
    finally:
        await db.dispose()


# Referred the way the demo and the platform's scenarios refer their households. Intake
# is installed beside the library (these tests run it) but is not on its mypy path.
REFERRED_BY_NGO: dict[str, Any] = importlib.import_module("avrr_intake.demo").REFERRED_BY_NGO
REFERRAL: dict[str, Any] = {
    **REFERRED_BY_NGO,
    "household": [
        {
            "given_names": "Dania Marisol",
            "family_name": "Reyes Cruz",
            "date_of_birth": "1990-05-14",
            "sex": "female",
            "relationship": "principal",
        }
    ],
    "office": "GT-GUA",
}
CASEWORKER = {"X-AVRR-User": "cw-1", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "GT-GUA"}


async def test_erase_case_goes_through_intakes_api_and_leaves_the_people_unreadable(
    service_processes: Any,
) -> None:
    intake: ServiceProcess = (await service_processes("intake"))["intake"]
    async with httpx.AsyncClient(base_url=intake.url, headers=CASEWORKER) as http:
        response = await http.post("/referrals", json=REFERRAL)
        assert response.status_code == 201, response.text
        created = response.json()
        case_id = created["case_id"]
        not_confirmed = await avrr("erase", "case", case_id, "--url", intake.url, input="n\n")
        assert "not confirmed" in refused(not_confirmed)

        erased = ok(await avrr("erase", "case", case_id, "--url", intake.url, "--yes"))
        assert json.loads(erased)["events"] == ["avrr.intake.PersonalDataErased"]

        async def shredded() -> bool:
            case = (await http.get(f"/cases/{case_id}")).json()
            return bool(case.get("personal_data_erased"))

        await eventually(shredded)
        case = (await http.get(f"/cases/{case_id}")).json()
        assert case["household"][0]["given_names"] == "erased"
        twice = refused(await avrr("erase", "case", case_id, "--url", intake.url, "--yes"))
        assert "422" in twice
        wrong_role = await avrr(
            "erase", "case", case_id, "--url", intake.url, "--yes", "--token", "not-a-jwt"
        )
        assert "401" in refused(wrong_role)


# ----------------------------------------------------------------------- demo --


async def test_demo_loads_cases_through_the_embedded_platforms_apis(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert "not reachable" in refused(await avrr("demo", "--url", url))
    env = {**os.environ, "AVRR_DATA_DIR": str(tmp_path / "data"), "AVRR_PORT": str(port)}
    with (tmp_path / "embedded.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "avrr_events.web.embedded",
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=url, headers=CASEWORKER, timeout=10) as http:

            async def ready() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get("/intake/health/ready")).status_code == 200
                return False

            await eventually(ready, timeout=60, interval=0.2)
            loaded = ok(await avrr("demo", "--url", url))
            assert "demo case(s) loaded" in loaded and "case_id" in loaded
            cases = (await http.get("/intake/cases")).json()["items"]
            assert len(cases) >= 3
            assert all(c["case_id"] in loaded for c in cases)
    finally:
        process.terminate()
        await process.wait()
