"""``python -m benchmarks``: measure every figure, ours and baseline side by side; print the ratios.

Options (or the environment variables in brackets):
  --quick               short run: 1.5 s per append shape, 10,000-event backlog and journal
  --seconds S           seconds per append shape [BENCH_SECONDS, default 5]
  --backlog N           outbox backlog for the relay [BENCH_BACKLOG, default 50000]
  --journal N           inbox journal for the rebuild [BENCH_JOURNAL, default 50000; the
                        issue's figure is 10,000,000: built and COPYed 200,000 at a time]
  --only a,b            figures to run: append, pyeventsourcing, relay, rebuild, lifecycle,
                        withdrawal, import (lifecycle: benchmarks/lifecycle.py; sizes
                        BENCH_LIFECYCLES, BENCH_LIFECYCLE_RATE; withdrawal:
                        benchmarks/withdrawal.py, the withdrawal window on the four processes
                        and embedded, BENCH_WITHDRAWALS; import: benchmarks/caseload.py,
                        `avrr import cases` into the embedded default and PostgreSQL,
                        BENCH_IMPORT_CASES)
  --only catchup        an EventConsumer catching up a backlog on Kafka against a raw aiokafka
                        getmany loop (benchmarks/catchup.py), BENCH_CATCHUP events (default
                        1,000,000; --quick 10,000)
  --only search         people search (intake, issue 18): benchmarks/search.py, BENCH_PEOPLE
                        people (default 100,000), BENCH_SEARCHES searches of each kind
  --only groups         group departure (travel, issue 20): benchmarks/group_departure.py, the
                        time to depart a convoy of BENCH_CONVOY households (default 50),
                        BENCH_CONVOYS convoys, PostgreSQL and embedded
  --only anchor         CPU per detail read and per command of each service against the lean
                        anchor (issue 21): benchmarks/anchor.py, BENCH_ANCHOR_READS,
                        BENCH_ANCHOR_COMMANDS
  --only scale          reads at scale (issue 21): benchmarks/scale.py, the situational reports
                        (a month or a year, and all time), GET /cases first page by phase
                        and a 500-event timeline over BENCH_SCALE_CASES cases (default
                        1,000,000) COPied into a fresh database, BENCH_SCALE_READS reads each;
                        only when asked for (minutes of seeding: not in the default run)
  --doc PATH / --no-doc where to write the table (default docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import platform
import re
import secrets
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from avrr_events import Database
from avrr_events.adapters.kafka import KafkaSettings, TopicSpec, ensure_topics
from benchmarks import (
    anchor,
    append,
    caseload,
    catchup,
    group_departure,
    lifecycle,
    rebuild,
    relay,
    scale,
    search,
    withdrawal,
)
from benchmarks.common import (
    BenchDatabase,
    Figure,
    database_url,
    delete_topics,
    fresh_database,
    kafka_settings,
    say,
)
from benchmarks.report import Machine, markdown_table, write_doc

FIGURES = (
    "append",
    "pyeventsourcing",
    "relay",
    "rebuild",
    "catchup",
    "lifecycle",
    "withdrawal",
    "import",
    "search",
    "groups",
    "anchor",
    "scale",
)
# What runs without --only: every figure but the million-case seeding of `scale`.
DEFAULT = tuple(f for f in FIGURES if f != "scale")
REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    p.add_argument("--seconds", type=float, default=float(env.get("BENCH_SECONDS", 5)))
    p.add_argument("--backlog", type=int, default=int(env.get("BENCH_BACKLOG", 50_000)))
    p.add_argument("--journal", type=int, default=int(env.get("BENCH_JOURNAL", 50_000)))
    p.add_argument("--catchup", type=int, default=catchup.events_from_env())
    p.add_argument("--only", default=",".join(DEFAULT), help="comma-separated figures")
    p.add_argument("--doc", default=str(REPO / "docs" / "benchmarks.md"))
    p.add_argument("--no-doc", action="store_true", help="print only, do not write the doc")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.backlog, args.journal, args.catchup = 1.5, 10_000, 10_000, 10_000
    args.only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(args.only) - set(FIGURES)
    if unknown:
        p.error(f"unknown figures {sorted(unknown)}; choose from {', '.join(FIGURES)}")
    return args


async def bench_append(
    db: BenchDatabase, seconds: float, with_pyes: bool, with_ours: bool
) -> list[Figure]:
    """Per shape, the three contenders one right after the other (machines drift over minutes)."""
    figures: list[Figure] = []
    if with_pyes and not append.pyeventsourcing_available():
        say("append: pyeventsourcing missing: pip install -r benchmarks/requirements.txt")
        with_pyes = False
    for n in (1, 8):
        shape = "sequential (1 writer)" if n == 1 else "8 concurrent writers"
        pyes = None
        if with_pyes:
            say(f"append: pyeventsourcing, {n} thread(s), {seconds:g} s")
            try:
                pyes = await asyncio.to_thread(append.pyeventsourcing, db.url, n, seconds)
            except ImportError as exc:  # uninstalled meanwhile (e.g. by a `make install`)
                say(f"append: pyeventsourcing unavailable: {exc}")
                with_pyes = False
        if not with_ours:
            continue
        say(f"append: raw asyncpg, {n} connection(s), {seconds:g} s")
        raw = await append.raw_asyncpg(db.dsn, n, seconds)
        say(f"append: EventStore.append, {n} writer(s), {seconds:g} s")
        ours = await append.ours(db.url, n, seconds)
        figures.append(
            Figure(
                f"append, {shape}",
                "events/s",
                ours,
                raw,
                "raw asyncpg event+outbox txn",
                target_ratio=0.7 if n == 8 else None,
            )
        )
        if pyes is not None:
            figures.append(
                Figure(
                    f"append, {shape}",
                    "events/s",
                    ours,
                    pyes,
                    "pyeventsourcing 9.5.6 (psycopg-binary)",
                    target_ratio=3.0 if n == 8 else 1.5,
                )
            )
    return figures


async def bench_relay(
    db: BenchDatabase, settings: KafkaSettings, backlog: int
) -> tuple[Figure, float]:
    """The relay figure, and the raw consumer's read rate of the topic the relay wrote."""
    token = secrets.token_hex(3)
    ours_topic, raw_topic = f"avrr.bench.{token}.relay", f"avrr.bench.{token}.raw"
    await ensure_topics(settings, [TopicSpec(ours_topic, 6), TopicSpec(raw_topic, 6)])
    try:
        say(f"relay: building and COPYing a backlog of {backlog:,} events")
        events = relay.backlog(backlog)
        await relay.fill_outbox(db.dsn, events, ours_topic)
        messages = [e.to_message(raw_topic) for e in events]
        # Each contender runs with only its own input in memory (the raw producer its
        # records, the relay nothing): a large live heap makes every GC pass dearer.
        del events
        gc.collect()
        say("relay: raw aiokafka pipelined producer")
        raw = await relay.raw_producer(settings, messages)
        del messages
        gc.collect()
        say("relay: OutboxRelay.drain() with KafkaPublisher")
        ours = await relay.ours(db.url, settings, ours_topic, backlog)
        say("rebuild baseline: raw aiokafka consumer reading the relay's topic")
        consumed = await relay.raw_consumer(settings, ours_topic, backlog)
    finally:
        await delete_topics(settings, [ours_topic, raw_topic])
    figure = Figure(
        f"relay drain, backlog {backlog:,}",
        "events/s",
        ours,
        raw,
        "raw aiokafka pipelined producer",
        target_ratio=0.6,
    )
    return figure, consumed


async def bench_rebuild(db: BenchDatabase, size: int) -> Figure:
    say(f"rebuild: building a journal of {size:,} events; COPY into the inbox (baseline)")
    copy = await rebuild.copy_journal(db.dsn, size)
    gc.collect()
    say("rebuild: ProjectionRunner.rebuild")
    ours = await rebuild.ours(db.url, size)
    return Figure(
        f"projection rebuild, {size:,} events",
        "events/s",
        ours,
        copy,
        "asyncpg COPY of the same rows",
        target_ratio=0.2,
        target_abs=30_000,
    )


async def machine(dsn: str) -> Machine:
    conn = await asyncpg.connect(dsn)
    try:
        pg = str(await conn.fetchval("SHOW server_version"))
        fsync = str(await conn.fetchval("SHOW fsync"))
        sync_commit = str(await conn.fetchval("SHOW synchronous_commit"))
    finally:
        await conn.close()
    infra = (REPO / "scripts" / "infra.sh").read_text()
    match = re.search(r"^KAFKA_VERSION=(\S+)", infra, re.M)
    return Machine(
        nproc=os.cpu_count() or 0,
        postgres=f"{pg} (fsync={fsync}, synchronous_commit={sync_commit})",
        kafka=f"{match.group(1) if match else '?'} (single KRaft node, scripts/infra.sh)",
        python=platform.python_version(),
        load=f"{os.getloadavg()[0]:.1f}",
    )


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = kafka_settings()
    figures: list[Figure] = []
    async with fresh_database(database_url()) as db:
        say(f"fresh database {db.name}")
        schema = Database(db.url)
        await schema.create_schema()
        await schema.dispose()
        host = await machine(db.dsn)
        if "append" in args.only or "pyeventsourcing" in args.only:
            figures += await bench_append(
                db, args.seconds, "pyeventsourcing" in args.only, "append" in args.only
            )
        consumed: float | None = None
        if "relay" in args.only:
            figure, consumed = await bench_relay(db, settings, args.backlog)
            figures.append(figure)
        if "rebuild" in args.only:
            figures.append(await bench_rebuild(db, args.journal))
            if consumed is not None:
                # The baseline; PERFORMANCE.md's targets (>= 30k/s, >= 0.2x COPY)
                # replace its 0.5x: a rebuild writes the read model, a raw read writes nothing.
                figures.append(
                    dataclasses.replace(
                        figures[-1],
                        baseline=consumed,
                        baseline_name="raw aiokafka consumer reading the relay's topic",
                        target_ratio=None,
                        target_abs=None,
                    )
                )
        if "catchup" in args.only:
            figures.append(await catchup.figure(db.url, settings, args.catchup))
    host = dataclasses.replace(host, load=f"{host.load} -> {os.getloadavg()[0]:.1f}")
    table = markdown_table(figures)
    if "lifecycle" in args.only:
        say("lifecycle: whole cases through the four service processes")
        table += "\n\n" + await lifecycle.run(quick=args.quick)
    if "withdrawal" in args.only:
        say("withdrawal: the window between a withdrawal and travel refusing a departure")
        table += "\n\n" + await withdrawal.run(quick=args.quick)
    if "import" in args.only:
        say("import: a caseload file through `avrr import cases`, embedded and PostgreSQL")
        table += "\n\n" + await caseload.run(
            quick=args.quick, cases=int(os.environ.get("BENCH_IMPORT_CASES", 0)) or None
        )
    if "search" in args.only:
        say("search: people search over a generated population (intake, issue 18)")
        table += "\n\n" + await search.run(quick=args.quick)
    if "groups" in args.only:
        say("groups: the time to depart a convoy of 50 households (travel, issue 20)")
        table += "\n\n" + await group_departure.run(quick=args.quick)
    if "anchor" in args.only:
        say("anchor: CPU per read and per command, services vs the lean anchor (issue 21)")
        table += "\n\n" + await anchor.run(quick=args.quick)
    if "scale" in args.only:
        say("scale: reports, case list and timeline over a million cases (issue 21)")
        table += "\n\n" + await scale.run(quick=args.quick)
    print(table)
    command = shlex.join(["python", "-m", "benchmarks", *argv])
    if not args.no_doc:
        write_doc(Path(args.doc), table, host, command, datetime.now(UTC))
        say(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
