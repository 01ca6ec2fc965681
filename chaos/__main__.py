"""``python -m chaos [--cases N] [--max-minutes M] [--seed S] ...``: see chaos/__init__.py.

Prints the report as markdown on stdout (progress on stderr); exit status 1
on any violation, 0 when everything held.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from avrr_events.settings import ServiceSettings
from avrr_events.web.embedded import discover
from avrr_events.web.service import ServiceRuntime
from benchmarks.lifecycle import journey_steps
from chaos import faults, verification
from chaos.infra import PrivateInfra, say
from chaos.lifecycles import RetryingClient, RetryStats, Scenario, assign, scenarios, suspend_region
from chaos.services import SERVICES, Fleet
from chaos.verification import Group, Verdict


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    p.add_argument("--cases", type=int, default=2000, help="lifecycles to drive")
    p.add_argument("--max-minutes", type=float, default=45.0, help="stop starting cases after")
    p.add_argument("--seed", type=int, default=1, help="scenario mix and fault choices")
    p.add_argument("--concurrency", type=int, default=40, help="lifecycles in flight at once")
    p.add_argument("--kill-every", type=float, default=6.0, help="seconds between SIGKILLs")
    p.add_argument("--broker-downtime", type=float, default=5.0)
    p.add_argument("--db-downtime", type=float, default=5.0)
    p.add_argument("--settle-minutes", type=float, default=5.0, help="bound for lag to reach 0")
    p.add_argument("--step-timeout", type=float, default=300.0, help="one step's visibility, s")
    p.add_argument(
        "--state-dir", type=Path, default=Path("/var/tmp/avrr-chaos"), help="private infra state"
    )
    p.add_argument("--pg-port", type=int, default=25432)
    p.add_argument("--kafka-port", type=int, default=29092)
    p.add_argument("--controller-port", type=int, default=29093)
    p.add_argument("--keep-infra", action="store_true", help="leave the private servers running")
    return p.parse_args(argv)


@dataclass
class Drive:
    """What the driver did."""

    cases: list[tuple[str, Scenario]] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)  # scenario -> fault-free case
    failures: list[str] = field(default_factory=list)
    offered: int = 0
    seconds: float = 0.0
    stopped_early: bool = False


def consumer_groups(fleet: Fleet) -> list[Group]:
    """Each service's group, topics and the types it takes in, as its runtime wires them."""
    out = []
    services = {s.name: s for s in discover()}
    for name in SERVICES:
        settings = ServiceSettings(
            database_url=fleet.env[name]["DATABASE_URL"],
            kafka_bootstrap_servers=fleet.bootstrap,
            dev=True,
            topic_prefix=fleet.prefix,
        )
        runtime = ServiceRuntime(services[name], settings)
        out.append(Group(name, runtime.group, tuple(runtime.topics), runtime.consumer.event_types))
    return out


async def drive(
    platform: Any,
    plan: list[Scenario],
    concurrency: int,
    deadline: float,
    progress: list[int],
    result: Drive,
) -> None:
    """Start the planned lifecycles, ``concurrency`` at a time, until done or ``deadline``."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int, scenario: Scenario) -> None:
        try:
            case_id = await scenario.drive(platform, n)
            result.cases.append((case_id, scenario))
        except Exception as exc:  # a failed lifecycle is a violation, named in the report
            result.failures.append(f"case {n} ({scenario.name}): {type(exc).__name__}: {exc}"[:400])
        finally:
            progress[0] += 1
            gate.release()

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(30)
            elapsed = time.monotonic() - started
            say(
                f"{len(result.cases)} lifecycles done, {len(result.failures)} failed, "
                f"{elapsed:.0f} s ({len(result.cases) / elapsed:.2f} cases/s)"
            )

    tasks = []
    started = time.monotonic()
    reporter = asyncio.create_task(report_progress())
    for n, scenario in enumerate(plan):
        await gate.acquire()
        if time.monotonic() > deadline:
            gate.release()
            result.stopped_early = True
            say(f"--max-minutes reached: {n} of {len(plan)} lifecycles started")
            break
        tasks.append(asyncio.create_task(one(n, scenario)))
        result.offered += 1
    await asyncio.gather(*tasks)
    result.seconds = time.monotonic() - started
    reporter.cancel()


async def schedule_faults(
    args: argparse.Namespace,
    infra: PrivateInfra,
    fleet: Fleet,
    log: faults.FaultLog,
    poison_topics: dict[str, tuple[str, str]],
    progress: list[int],
    total: int,
    started: float,
    done: asyncio.Event,
) -> None:
    """Poison at 10 % of the run, the broker restart at 25 %, the database restart at 50 %.

    "Of the run": cases finished out of those planned, or time out of
    --max-minutes, whichever is further; what has not fired when the driving
    ends fires then, before the verification.
    """
    budget = args.max_minutes * 60
    plan: list[tuple[float, Callable[[], Awaitable[None]]]] = [
        (0.10, lambda: faults.inject_poison(infra.bootstrap, poison_topics, log)),
        (0.25, lambda: faults.restart_broker(infra, log, args.broker_downtime)),
        (0.50, lambda: faults.restart_database(infra, log, args.db_downtime)),
    ]
    for at, fire in plan:
        while not done.is_set():
            elapsed = (time.monotonic() - started) / budget
            if max(progress[0] / total, elapsed) >= at:
                break
            await asyncio.sleep(1.0)
        try:
            await fire()
        except Exception as exc:  # named in the report as a violation; the run goes on
            log.failed.append(f"fault at {at:.0%} failed: {type(exc).__name__}: {exc}"[:500])
            log.record(log.failed[-1])


def known_types(groups: list[Group], topic_of: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Per topic: its service and the published type the most groups take in (for poison)."""
    out = {}
    for service, topic in topic_of.items():
        readers = [g for g in groups if topic in g.topics]
        candidates = sorted(
            {t for g in readers for t in g.event_types if t.startswith(f"avrr.{service}.")}
        )
        best = max(candidates, key=lambda t: sum(t in g.event_types for g in readers))
        out[topic] = (service, best)
    return out


async def run(args: argparse.Namespace) -> int:
    steps = journey_steps()
    rng = random.Random(args.seed)
    plan = assign(args.cases, args.seed)
    infra = PrivateInfra(args.state_dir, args.pg_port, args.kafka_port, args.controller_port)
    logs = args.state_dir / "services"
    say(f"private PostgreSQL :{args.pg_port} and Kafka :{args.kafka_port} in {args.state_dir}")
    await infra.run("destroy")
    await infra.up()
    logs.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(infra.admin_url, infra.bootstrap, f"chaos{secrets.token_hex(3)}", logs)
    verdict = Verdict()
    log = faults.FaultLog()
    result = Drive()
    stats = RetryStats()
    try:
        await fleet.start()
        groups = consumer_groups(fleet)
        topic_of = {s: f"{fleet.prefix}.{s}.events" for s in SERVICES}
        async with AsyncExitStack() as stack:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
            raw = {
                name: await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits)
                )
                for name, url in fleet.urls.items()
            }
            clients = {name: RetryingClient(c, stats) for name, c in raw.items()}

            platform = steps.Platform(
                clients, timeout=args.step_timeout, interval=0.25, own_interval=0.5
            )
            await suspend_region(platform)
            say("one fault-free lifecycle of each scenario (the reference counts)")
            for i, scenario in enumerate(scenarios()):
                result.references[scenario.name] = await scenario.drive(platform, 50_000 + i)

            say(f"{len(plan)} lifecycles, {args.concurrency} at a time, with faults")
            progress = [0]
            done = asyncio.Event()
            started = time.monotonic()
            deadline = started + args.max_minutes * 60
            killer = asyncio.create_task(
                faults.kill_services(fleet, log, rng, args.kill_every, done)
            )
            scheduled = asyncio.create_task(
                schedule_faults(
                    args,
                    infra,
                    fleet,
                    log,
                    known_types(groups, topic_of),
                    progress,
                    len(plan),
                    started,
                    done,
                )
            )
            await drive(platform, plan, args.concurrency, deadline, progress, result)
            done.set()
            await killer
            await scheduled
            for name in SERVICES:
                await fleet.ready(name)

            say("waiting for every outbox to empty and every lag to reach zero")
            databases = {s: fleet.env[s]["DATABASE_URL"] for s in SERVICES}
            took, lags = await verification.settle(
                infra.bootstrap, groups, databases, args.settle_minutes * 60
            )
            if took is None:
                verdict.violate(
                    f"lag or outbox not zero within {args.settle_minutes:g} min: {lags}"
                )
            else:
                verdict.figure("consumer lag back to zero, outboxes empty, after", f"{took:.0f} s")

            say("verifying")
            verdict.violate_some("faults that could not be injected or recovered", log.failed)
            verdict.violate_some("lifecycles that failed", result.failures)
            # A SIGKILL shows as a transport error, a database or broker restart as 503
            # `unavailable` with Retry-After; any other 5xx is the platform's own fault.
            verdict.violate_some("5xx answers no injected fault explains", stats.unexplained_5xx)
            await verification.check_final_states(clients, result.cases, verdict)
            stores = await verification.read_stores(databases)
            verification.check_inboxes(stores, groups, topic_of, verdict)
            case_ids = {c for c, _ in result.cases}
            # intake's own list of the types its timeline shows (a plug-in: imported by name)
            timeline_types = importlib.import_module("avrr_intake.timeline").TIMELINE_TYPES
            verification.check_timeline(stores, case_ids, timeline_types, verdict)
            verification.check_command_effects(stores, result.cases, result.references, verdict)
            expected = faults.expected_dead_letters(
                log.poison, {g.name: (list(g.topics), g.event_types) for g in groups}
            )
            await verification.check_dead_letters(infra.bootstrap, expected, verdict)
    finally:
        await fleet.stop()
        if not args.keep_infra:
            await infra.down()

    print(report(args, result, stats, fleet, log, verdict))
    return 1 if verdict.violations else 0


def report(
    args: argparse.Namespace,
    result: Drive,
    stats: RetryStats,
    fleet: Fleet,
    log: faults.FaultLog,
    verdict: Verdict,
) -> str:
    by_scenario: dict[str, int] = {}
    for _, s in result.cases:
        by_scenario[s.name] = by_scenario.get(s.name, 0) + 1
    rate = len(result.cases) / result.seconds if result.seconds else 0.0
    restarts = sorted(fleet.restart_seconds)
    rows = [
        ("lifecycles planned / started / completed", f"{args.cases} / {result.offered} / "
         f"{len(result.cases)}" + (" (stopped at --max-minutes)" if result.stopped_early else "")),
        ("lifecycles by scenario", ", ".join(f"{k} {v}" for k, v in sorted(by_scenario.items()))),
        ("driving time, throughput", f"{result.seconds:.0f} s, {rate:.2f} cases/s "
         f"({args.concurrency} in flight)"),
        ("SIGKILLs (per service)", f"{sum(fleet.kills.values())} "
         f"({', '.join(f'{k} {v}' for k, v in sorted(fleet.kills.items()))})"),
        ("restart to ready after SIGKILL, median / max", "-" if not restarts else
         f"{restarts[len(restarts) // 2]:.1f} / {restarts[-1]:.1f} s"),
        ("broker / database restarts", f"{log.broker_restarts} / {log.database_restarts}"),
        ("poison records injected", str(len(log.poison))),
        ("driver retries: transport errors, 5xx, 409 in progress, 409 conflicts, replays",
         f"{stats.transport_errors}, {dict(stats.server_errors)}, {stats.in_progress_409}, "
         f"{stats.conflicts_409}, {stats.replayed}"),
        ("commands applied without a stored response (409 key applied; each fails its lifecycle)",
         f"{len(stats.applied_response_lost)}"),
        ("commands re-sent with a new key (reservation outlived 150 s)",
         f"{len(stats.rekeyed)}" + (f": {stats.rekeyed[:5]}" if stats.rekeyed else "")),
        *verdict.figures,
    ]  # fmt: skip
    lines = ["| chaos figure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines.append("")
    lines.append(f"faults: {'; '.join(e for e in log.events if 'ready again' not in e)}")
    lines.append("")
    if verdict.violations:
        lines.append(f"VIOLATIONS ({len(verdict.violations)}):")
        lines += [f"- {v}" for v in verdict.violations]
    else:
        lines.append("no violations")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
