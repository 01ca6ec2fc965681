"""Disaster recovery: travel restored from a pg_dump catches up from Kafka, nothing doubled.

Intake, eligibility and travel run as processes over real Kafka and
PostgreSQL. Three households are ticketed, and travel's database is dumped
(``backup-dump`` of docs/operations.md) while everything runs. Two more
households are ticketed and one of the first withdraws, so travel opens
movements, takes the travel desk's commands and cancels a booking after its
backup. Travel is stopped, restored into a new database and started on it
with the runbook's blocks (``restore-create-database``, ``restore-load``,
``restore-setup``, ``restore-positions``). Then, once it has caught up:

- every event of intake and eligibility of a type travel takes in is in the
  restored inbox (once: the inbox is keyed by event id);
- what travel wrote in reaction after the backup is back in its store under
  the same ids: each movement was opened once and the booking cancelled once,
  on its topic too (so no subscriber took them in twice);
- what travel wrote for commands after the backup (documents, fitness,
  tickets) is not in the restored store, and its read models show each
  movement at its store's version, not at its topic's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
from deploy.operations_doc import REPO, check_block
from journey_steps import (
    CASEWORKER,
    TRAVEL_OFFICER,
    Platform,
    clear,
    clients_of,
    open_case,
    request_return,
    status,
    ticket,
)
from sqlalchemy.engine import make_url
from test_return_journey import StartProcesses, kafka_events, topic_prefix
from withdrawal_steps import WITHDRAWAL, prepared

from avrr_events import Envelope
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import _drop_database, asyncpg_dsn, eventually

SERVICE = "travel"
UPSTREAM = ("intake", "eligibility")  # the services whose events travel takes in
SERVICES = (*UPSTREAM, SERVICE)  # reintegration plays no part in travel's restore
PG_BIN = "/usr/lib/postgresql/15/bin"
OPENED = "avrr.travel.MovementOpened"
CANCELLED = "avrr.travel.MovementCancelled"
COMMANDS = (
    "avrr.travel.TravelDocumentObtained",
    "avrr.travel.FitForTravelConfirmed",
    "avrr.travel.TicketIssued",
)


async def fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def libpq_env(admin_url: str) -> dict[str, str]:
    """The PG* variables of the runbook's blocks, from the tests' PostgreSQL URL."""
    url = make_url(admin_url)
    return {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "postgres",
    }


async def ticketed(p: Platform, n: int) -> str:
    """A household from its referral to its ticket (travel opens the movement in reaction
    to the clearance, then takes the travel desk's commands); its case id."""
    case = await open_case(p, n)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    return case.case_id


def by_case(envelopes: list[Envelope], event_type: str) -> dict[str, set[str]]:
    """Case -> the distinct ids of its events of that type."""
    out: dict[str, set[str]] = {}
    for e in envelopes:
        if e.type == event_type:
            out.setdefault(e.subject, set()).add(e.id)
    return out


async def test_travel_restored_from_a_dump_catches_up_from_kafka_with_no_effect_doubled(
    service_processes: StartProcesses,
    kafka_bootstrap: str,
    postgres_admin_url: str,
    tmp_path: Path,
) -> None:
    procs = await service_processes("intake")  # first: it creates the shared key table
    procs.update(await service_processes(*SERVICES[1:]))
    prefix = topic_prefix(procs)
    old_url = procs[SERVICE].database_url
    restored_name = f"{make_url(old_url).database}_restored"
    restored_url = make_url(old_url).set(database=restored_name).render_as_string(False)
    keys_url = make_url(old_url).set(database=f"{prefix}_keys").render_as_string(False)
    runbook = {
        **libpq_env(postgres_admin_url),
        "AVRR_SERVICE": SERVICE,
        "SERVICE_DATABASE": str(make_url(old_url).database),
        "BACKUP_FILE": str(tmp_path / f"{SERVICE}.dump"),
        "RESTORED_DATABASE": restored_name,
        "RESTORED_DATABASE_URL": restored_url,
        # What the setup Job gets from the Secret and the ConfigMap.
        "AVRR_KEYSTORE_URL": keys_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AVRR_TOPIC_PREFIX": prefix,
    }
    tools: list[str | Path] = [PG_BIN, REPO / ".venv" / "bin"]
    events = kafka_events(KafkaSettings(kafka_bootstrap), prefix)
    async with AsyncExitStack() as stack:
        clients = await clients_of(stack, procs, SERVICES, timeout=60.0)
        p = Platform(clients, events, timeout=120.0, interval=0.2)
        *before, [withdrawing] = await asyncio.gather(
            ticketed(p, 0), ticketed(p, 1), prepared(p, 1, first=10, ticket=True, parallel=1)
        )

        check_block("backup-dump", runbook, path=tools)

        after = list(await asyncio.gather(ticketed(p, 2), ticketed(p, 3)))
        await p.post(
            "intake", f"/cases/{withdrawing}/withdrawal", WITHDRAWAL, CASEWORKER, expect=200
        )
        await p.until(
            SERVICE,
            f"/movements/{withdrawing}",
            status("cancelled"),
            TRAVEL_OFFICER,
            hop="withdrawal",
            since=0,
        )
        published = by_case(await events(SERVICE), OPENED)
        assert set(published) >= {*before, *after, withdrawing}

        old = procs[SERVICE].process
        old.terminate()
        await asyncio.wait_for(old.wait(), timeout=30)
        try:
            check_block("restore-create-database", runbook, path=tools)
            check_block("restore-load", runbook, path=tools)
            check_block("restore-setup", runbook, path=tools)
            positions = check_block("restore-positions", runbook, path=tools)
            assert f"{prefix}.{SERVICE}" in positions, positions

            procs.update(await service_processes(SERVICE, DATABASE_URL=restored_url))
            travel = await stack.enter_async_context(
                httpx.AsyncClient(base_url=procs[SERVICE].url, timeout=60.0)
            )
            upstream = [procs[s].database_url for s in UPSTREAM]
            await caught_up(travel, old_url, upstream, restored_url, prefix, withdrawing)
            await nothing_doubled(p, restored_url, [*before, *after, withdrawing])
            await commands_after_the_backup_lost(travel, restored_url, after)
        finally:
            restored = procs[SERVICE].process
            if restored is not old and restored.returncode is None:
                restored.terminate()
                await asyncio.wait_for(restored.wait(), timeout=30)
            await _drop_database(postgres_admin_url, restored_name)


async def caught_up(
    travel: httpx.AsyncClient,
    old_url: str,
    upstream_urls: list[str],
    url: str,
    prefix: str,
    withdrawn: str,
) -> None:
    """Wait until the restored inbox holds every upstream event of the types travel takes in,
    and the withdrawal's cancellation is back in its store and its read model."""
    group = f"{prefix}.{SERVICE}"
    taken = await fetch(
        old_url,
        "SELECT DISTINCT type FROM inbox WHERE consumer = $1 AND topic <> $2",
        group,
        f"{prefix}.{SERVICE}.events",
    )
    types = [r["type"] for r in taken]
    assert "avrr.eligibility.DueDiligenceCleared" in types, types
    upstream: set[str] = set()
    for upstream_url in upstream_urls:
        rows = await fetch(
            upstream_url,
            "SELECT event_id::text AS id FROM events WHERE type = ANY($1::text[])",
            types,
        )
        upstream |= {r["id"] for r in rows}
    missing: set[str] = set()

    async def inbox_complete() -> bool:
        rows = await fetch(url, "SELECT event_id FROM inbox WHERE consumer = $1", group)
        missing.clear()
        missing.update(upstream - {r["event_id"] for r in rows})
        cancelled = await fetch(
            url, "SELECT 1 FROM events WHERE type = $1 AND subject = $2", CANCELLED, withdrawn
        )
        # In the read model once travel took in the event again from its topic.
        response = await travel.get(f"/movements/{withdrawn}", headers=TRAVEL_OFFICER)
        shown = response.status_code == 200 and response.json()["status"] == "cancelled"
        return not missing and bool(cancelled) and shown

    try:
        await eventually(inbox_complete, timeout=120, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{len(missing)} upstream events not in the inbox") from exc


async def nothing_doubled(p: Platform, url: str, cases: list[str]) -> None:
    """Each movement opened once and the booking cancelled once: in the restored store, and
    on travel's topic (the reactions run again wrote the same events, ids included)."""
    published = await p.events(SERVICE)
    for event_type in (OPENED, CANCELLED):
        on_topic = by_case(published, event_type)
        rows = await fetch(
            url, "SELECT subject, event_id::text AS id FROM events WHERE type = $1", event_type
        )
        stored: dict[str, set[str]] = {}
        for r in rows:
            stored.setdefault(r["subject"], set()).add(r["id"])
        assert all(len(ids) == 1 for ids in on_topic.values()), (event_type, on_topic)
        assert stored == {c: ids for c, ids in on_topic.items() if c in stored}, event_type
        if event_type == OPENED:
            assert set(stored) >= set(cases), (set(cases) - set(stored), event_type)


async def commands_after_the_backup_lost(
    travel: httpx.AsyncClient, url: str, after: list[str]
) -> None:
    """The travel desk's commands after the backup are not in the restored store, and the read
    models agree with the store (they did not take those events in from the topic)."""
    rows = await fetch(
        url,
        "SELECT subject, type, max(version) AS version FROM events"
        " WHERE stream_id LIKE 'movement-%' GROUP BY subject, type",
    )
    kinds: dict[str, set[str]] = {}
    for r in rows:
        kinds.setdefault(r["subject"], set()).add(r["type"])
    versions: Mapping[str, int] = {
        r["subject"]: r["version"]
        for r in await fetch(
            url,
            "SELECT subject, max(version) AS version FROM events"
            " WHERE stream_id LIKE 'movement-%' GROUP BY subject",
        )
    }
    for case_id in after:
        assert kinds[case_id] == {OPENED}, (case_id, kinds[case_id])
        assert not kinds[case_id] & set(COMMANDS)
    mismatched: dict[str, object] = {}

    async def read_models_agree() -> bool:
        mismatched.clear()
        for case_id, version in versions.items():
            response = await travel.get(f"/movements/{case_id}", headers=TRAVEL_OFFICER)
            shown = response.json().get("version") if response.status_code == 200 else response
            if shown != version:
                mismatched[case_id] = (shown, version)
        return not mismatched

    try:  # the events the reactions wrote again are taken in once published again
        await eventually(read_models_agree, timeout=60, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"read model version != store version: {mismatched}") from exc
