"""Whole case lifecycles through the four services, each its own OS process.

``python -m benchmarks.lifecycle`` starts intake, eligibility, travel and
reintegration as the test fixture does (``python -m avrr_events.serve <name>``,
a fresh PostgreSQL database each, one shared key database, topics of this run's
own prefix, dev auth) against DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS
(``eval "$(scripts/infra.sh env)"``), then:

1. offers N whole lifecycles (referral -> ... -> reintegration completed, the
   scenario of tests/journey_steps.py, REST only) at a fixed rate, open loop:
   case i starts at t0 + i/rate whatever the others are doing;
2. records the command-to-projection lag of each cross-service hop: from a
   command's response to its effect visible in the NEXT service's read model
   (ReturnRequested -> eligibility, DueDiligenceCleared -> travel,
   ArrivalConfirmed -> reintegration), polled every ``--poll`` seconds (the
   figure's resolution). A service's own read model is polled only every
   ``--own-poll`` seconds and not reported (``--own-poll 0``: reported too):
   at 20 ms for every in-flight case, the harness's polling became the load;
3. GETs each service's detail of a case (intake's is the decrypted case
   file) one at a time, then at a fixed request rate for a few seconds, open
   loop, each latency counted from when the request was due;
4. reads each process's peak RSS (VmHWM in /proc/<pid>/status) before
   stopping it.

The targets are PERFORMANCE.md's: lag p99 < 250 ms at 100 cases/s, read
p99 < 20 ms at 200 requests/s, < 150 MB RSS per service process. The lag
figure is measured at the offered rate printed next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.serve import find
from avrr_events.settings import ServiceSettings
from avrr_events.testing import (
    ServiceProcess,
    _create_database,
    _drop_database,
    _free_port,
    _wait_ready,
    spawn_service,
    stop_service_processes,
)
from benchmarks.common import database_url, kafka_settings, steps_of_the_tests

try:
    from avrr_events.migrations import migrate
except ImportError:  # an A/B run against code from before migrations: services made their tables
    migrate = None  # type: ignore[assignment]

SERVICES = ("intake", "eligibility", "travel", "reintegration")
MB = 1024 * 1024


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@functools.cache
def journey_steps() -> ModuleType:
    """tests/journey_steps.py: the scenario test's steps, reused as the load (written once)."""
    return steps_of_the_tests("journey_steps")


# ------------------------------------------------------------- processes --


@dataclass
class Stack:
    prefix: str
    procs: dict[str, ServiceProcess]
    databases: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc/<pid>/stat.

    Rates on this shared, noisy machine mostly measure the neighbours; CPU per
    request or per lifecycle measures our code (PERFORMANCE.md: runs differ up
    to 1.8x between hours), so the before/after of a change is compared on it.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int, of: str = "VmHWM") -> int | None:
    """The process's peak resident set (VmHWM; ``of="VmRSS"``: its present one), in bytes;
    None where /proc has no such line."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{of}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@asynccontextmanager
async def four_processes(admin_url: str, kafka: KafkaSettings, logs: Path) -> AsyncIterator[Stack]:
    """The four services as separate processes, as the ``service_processes`` fixture starts them."""
    prefix = f"bench{secrets.token_hex(4)}"
    stack = Stack(prefix, {})
    try:
        keys = f"{prefix}_keys"
        await _create_database(admin_url, keys)
        stack.databases.append(keys)
        keys_url = make_url(admin_url).set(database=keys).render_as_string(hide_password=False)
        for name in SERVICES:
            url = await _create_database(admin_url, f"{prefix}_{name}")
            stack.databases.append(f"{prefix}_{name}")
            # As the deployment's setup Job does: the services refuse unmigrated databases.
            if migrate is not None:
                settings = ServiceSettings(database_url=url, keystore_url=keys_url)
                await migrate(find(name), settings)
            port = _free_port()
            log_path = logs / f"{name}.log"
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                "AVRR_KEYSTORE_URL": keys_url,
                "AVRR_TOPIC_PREFIX": prefix,
                "AVRR_DEV": "1",
                "AVRR_DEV_AUTH_OVERRIDE": "1",  # header authentication on PostgreSQL
                "AVRR_PORT": str(port),
                "AVRR_RELAY_POLL": "0.2",
                "AVRR_LOG_LEVEL": "WARNING",
            }
            process = await spawn_service(name, env, log_path)
            stack.procs[name] = ServiceProcess(name, port, url, process, log_path)
        for proc in stack.procs.values():
            # Four interpreters importing at once on two shared cores take more than a minute.
            await _wait_ready(proc, timeout=300)
        yield stack
    finally:
        await stop_service_processes(stack.procs.values())
        for name in stack.databases:
            await _drop_database(admin_url, name)
        await delete_topics(kafka, prefix)


async def delete_topics(kafka: KafkaSettings, prefix: str) -> None:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if f"{prefix}." in t]  # dead letters too
        if names:
            await admin.delete_topics(names)
    except Exception as exc:  # leftovers are harmless: the prefix is this run's own
        say(f"lifecycle: could not delete topics {prefix}.*: {exc}")
    finally:
        await admin.close()


# ---------------------------------------------------------------- figures --


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (q in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Line:
    figure: str
    value: str
    target: str = "-"
    met: bool | None = None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:,.1f}"


def p50_p99(values: Sequence[float]) -> str:
    return f"{ms(quantile(values, 0.5))} / {ms(quantile(values, 0.99))} ms"


@dataclass
class Reads:
    """GETs of one service's detail route: one at a time, then at a fixed rate (open loop)."""

    service: str
    route: str
    rate: float
    seconds: float
    one_at_a_time: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # from when each request was due
    due: int = 0
    errors: int = 0
    unanswered: int = 0
    elapsed: float = 0.0  # from the first request due to the last one answered
    cpu: float = 0.0  # the service process's CPU seconds during the fixed-rate reads

    @property
    def answered_per_second(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


@dataclass
class Result:
    cases: int
    rate: float
    poll: float
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    cross: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)
    per_hop: dict[str, list[float]] = field(default_factory=dict)
    reads: list[Reads] = field(default_factory=list)
    rss: dict[str, int | None] = field(default_factory=dict)
    # Once ready, before any load: what the modules and the app take, apart from the load.
    rss_started: dict[str, int | None] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds while lifecycles ran
    case_ids: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.cases - len(self.failures)

    def lines(self) -> list[Line]:
        achieved = self.completed / self.seconds if self.seconds else 0.0
        out = [
            Line(
                f"whole lifecycles: {self.cases} offered at {self.rate:g} cases/s, "
                f"{self.completed} completed (first offer -> last completion)",
                f"{achieved:,.2f} cases/s",
                "100 cases/s offered",
                achieved >= 100,
            )
        ]
        if self.durations:
            out.append(
                Line(
                    "one lifecycle, referral -> completed, p50 / p99",
                    f"{ms(quantile(self.durations, 0.5))} / "
                    f"{ms(quantile(self.durations, 0.99))} ms",
                )
            )
        if self.cross:
            p99 = quantile(self.cross, 0.99)
            out.append(
                Line(
                    f"command-to-projection lag, next service's read model, p50 / p99 "
                    f"({len(self.cross)} hops at {self.rate:g} cases/s, "
                    f"poll {self.poll * 1000:g} ms)",
                    p50_p99(self.cross),
                    "p99 < 250 ms (at 100 cases/s)",
                    p99 < 0.250,
                )
            )
        if self.own:
            out.append(
                Line(
                    f"command-to-projection lag, own read model, p50 / p99 ({len(self.own)} hops)",
                    p50_p99(self.own),
                )
            )
        for r in self.reads:
            if r.one_at_a_time:
                out.append(
                    Line(
                        f"REST read {r.service} {r.route}, one request at a time, p50 / p99",
                        p50_p99(r.one_at_a_time),
                    )
                )
            if r.latencies:
                p99 = quantile(r.latencies, 0.99)
                late = f", {r.unanswered} unanswered" if r.unanswered else ""
                out.append(
                    Line(
                        f"REST read {r.service} {r.route} at {r.rate:g} req/s for {r.seconds:g} s "
                        f"({r.due} due, {r.errors} errors{late}, answered at "
                        f"{r.answered_per_second:,.0f}/s), p50 / p99 from when due",
                        p50_p99(r.latencies),
                        "p99 < 20 ms at 200 req/s",
                        p99 < 0.020 and not r.errors and not r.unanswered and r.rate >= 200,
                    )
                )
        for name, cpu in self.cpu.items():
            if self.completed:
                out.append(
                    Line(
                        f"CPU of the {name} process per lifecycle (while they were offered)",
                        f"{cpu / self.completed * 1000:,.0f} ms",
                    )
                )
        for r in self.reads:
            served = len(r.one_at_a_time) + len(r.latencies)
            if served and r.cpu:
                out.append(
                    Line(
                        f"CPU of the {r.service} process per REST read ({r.route})",
                        f"{r.cpu / served * 1000:,.2f} ms",
                    )
                )
        for name, rss in self.rss_started.items():
            out.append(
                Line(
                    f"RSS after start-up, {name} process (VmRSS once ready, before any load)",
                    "-" if rss is None else f"{rss / MB:,.0f} MB",
                )
            )
        for name, rss in self.rss.items():
            out.append(
                Line(
                    f"peak RSS, {name} process (VmHWM)",
                    "-" if rss is None else f"{rss / MB:,.0f} MB",
                    "< 150 MB",
                    None if rss is None else rss < 150 * MB,
                )
            )
        return out


def markdown(lines: list[Line]) -> str:
    rows = ["| lifecycle figure | measured | target | met |", "|---|---:|---|:-:|"]
    for line in lines:
        met = {True: "yes", False: "**no**", None: "-"}[line.met]
        rows.append(f"| {line.figure} | {line.value} | {line.target} | {met} |")
    return "\n".join(rows)


# ------------------------------------------------------------------- load --


async def offer_lifecycles(steps: ModuleType, platform: Any, result: Result, first: int) -> None:
    """Start case i at t0 + i/rate (open loop); wait for all of them."""

    async def one(i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        started = time.perf_counter()
        try:
            case = await steps.full_journey(platform, n=first + i)
            result.durations.append(time.perf_counter() - started)
            result.case_ids.append(str(case.case_id))
        except Exception as exc:  # a failed lifecycle is counted and named, not fatal
            text = str(exc)
            # The tail too: an assertion on a response ends with its status and body.
            brief = text if len(text) <= 600 else f"{text[:200]} ... {text[-400:]}"
            result.failures.append(f"case {i}: {type(exc).__name__}: {brief}")

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one(i, t0 + i / result.rate)) for i in range(result.cases)]
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - t0


async def fire_reads(
    client: httpx.AsyncClient,
    paths: list[str],
    headers: dict[str, str],
    reads: Reads,
    *,
    sequential: int = 50,
    grace: float = 10.0,
) -> None:
    """One request at a time first (service time), then ``rate`` req/s for ``seconds``.

    The fixed rate is open loop: request k is due at t0 + k/rate whether or not
    the earlier ones were answered, and its latency counts from when it was due
    (queueing included, no coordinated omission). Requests still unanswered
    ``grace`` seconds after the window are cancelled and counted as unanswered.
    """
    for k in range(sequential):
        sent = time.perf_counter()
        response = await client.get(paths[k % len(paths)], headers=headers)
        reads.one_at_a_time.append(time.perf_counter() - sent)
        if response.status_code != 200:
            reads.errors += 1
    reads.due = int(reads.rate * reads.seconds)

    async def one(k: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        try:
            response = await client.get(paths[k % len(paths)], headers=headers)
        except httpx.HTTPError as exc:
            reads.errors += 1
            if reads.errors <= 3:
                say(f"lifecycle: {reads.service} read failed: {type(exc).__name__}: {exc}")
            return
        answered = time.perf_counter()
        reads.latencies.append(answered - due)
        reads.elapsed = max(reads.elapsed, answered - t0)
        if response.status_code != 200:
            reads.errors += 1
            if reads.errors <= 3:
                say(f"lifecycle: {reads.service} read: {response.status_code} {response.text}")

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one(k, t0 + k / reads.rate)) for k in range(reads.due)]
    _, pending = await asyncio.wait(tasks, timeout=reads.seconds + grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    reads.unanswered = len(pending)


async def measure(
    cases: int,
    rate: float,
    *,
    read_rps: float = 200.0,
    read_seconds: float = 5.0,
    read_services: Sequence[str] = SERVICES,
    poll: float = 0.02,
    own_poll: float | None = 0.25,
    warmup: int = 2,
    profile: Path | None = None,
) -> Result:
    steps = journey_steps()
    kafka = kafka_settings()
    result = Result(cases, rate, poll)
    with tempfile.TemporaryDirectory(prefix="avrr-lifecycle-") as logs:
        say(f"lifecycle: starting {', '.join(SERVICES)} as separate processes")
        async with four_processes(database_url(), kafka, Path(logs)) as stack:
            result.rss_started = {
                name: peak_rss(proc.process.pid, "VmRSS") for name, proc in stack.procs.items()
            }
            # keep-alive shorter than uvicorn's 5 s: no request on a connection being closed
            limits = httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0
            )
            async with AsyncExitStack() as clients_stack:
                clients = {
                    name: await clients_stack.enter_async_context(
                        httpx.AsyncClient(base_url=proc.url, timeout=30.0, limits=limits)
                    )
                    for name, proc in stack.procs.items()
                }

                say(f"lifecycle: {warmup} warm-up lifecycle(s), one after the other")
                warm = steps.Platform(clients, timeout=60.0, interval=poll)
                for i in range(warmup):
                    await steps.full_journey(warm, n=10_000 + i)

                say(f"lifecycle: offering {cases} lifecycles at {rate:g} cases/s")
                platform = steps.Platform(
                    clients, timeout=60.0, interval=poll, own_interval=own_poll
                )
                async with AsyncExitStack() as spies:
                    for proc in stack.procs.values():
                        await spies.enter_async_context(
                            sampled(proc, profile, cases / rate, label="lifecycles")
                        )
                    before = {n: cpu_seconds(p.process.pid) for n, p in stack.procs.items()}
                    await offer_lifecycles(steps, platform, result, first=0)
                    result.cpu = {
                        n: cpu_seconds(p.process.pid) - before[n] for n, p in stack.procs.items()
                    }
                for lag in platform.lags:
                    (result.cross if lag.cross_service else result.own).append(lag.seconds)
                    result.per_hop.setdefault(lag.hop, []).append(lag.seconds)
                for failure in result.failures[:5]:
                    say(f"lifecycle: FAILED {failure}")

                # Each service's detail of a case (intake's is the case file, decrypted).
                details = {
                    "intake": ("/cases/{id}", steps.CASEWORKER),
                    "eligibility": ("/assessments/{id}", steps.CASEWORKER),
                    "travel": ("/movements/{id}", steps.TRAVEL_OFFICER),
                    "reintegration": ("/cases/{id}", steps.REINTEGRATION_OFFICER),
                }
                for name in read_services if result.case_ids and read_seconds > 0 else ():
                    route, headers = details[name]
                    paths = [route.format(id=c) for c in result.case_ids]
                    reads = Reads(name, f"GET {route}", read_rps, read_seconds)
                    say(
                        f"lifecycle: {name} {reads.route} at {read_rps:g} req/s, {read_seconds:g} s"
                    )
                    pid = stack.procs[name].process.pid
                    before_reads = cpu_seconds(pid)
                    async with sampled(stack.procs[name], profile, read_seconds, label="reads"):
                        await fire_reads(clients[name], paths, dict(headers), reads)
                    reads.cpu = cpu_seconds(pid) - before_reads
                    result.reads.append(reads)
            result.rss = {name: peak_rss(proc.process.pid) for name, proc in stack.procs.items()}
    return result


@asynccontextmanager
async def sampled(
    proc: ServiceProcess, into: Path | None, seconds: float, *, label: str
) -> AsyncIterator[None]:
    """For ``seconds`` from now, py-spy samples ``proc`` into ``into``/<service>-<label>.txt.

    The file holds collapsed stacks (py-spy's raw format), one line per stack.

    py-spy attaches from outside (no change to the service), so the profile is
    of the very process the figures measure. Without ``into`` it does nothing.
    """
    if into is None:
        yield
        return
    os.makedirs(into, exist_ok=True)
    out = into / f"{proc.name}-{label}.txt"
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(proc.process.pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--duration",
        str(max(1, round(seconds + 1))),
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        await spy.wait()
        say(f"lifecycle: profile of {proc.name} in {out}")


def hop_table(result: Result) -> str:
    rows = ["| hop | n | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    for hop, values in result.per_hop.items():
        rows.append(
            f"| {hop} | {len(values)} | {quantile(values, 0.5) * 1000:,.0f} "
            f"| {quantile(values, 0.99) * 1000:,.0f} |"
        )
    return "\n".join(rows)


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m benchmarks.lifecycle", description=__doc__)
    p.add_argument("--cases", type=int, default=int(env.get("BENCH_LIFECYCLES", 50)))
    p.add_argument("--rate", type=float, default=float(env.get("BENCH_LIFECYCLE_RATE", 1)))
    p.add_argument("--read-rps", type=float, default=200.0)
    p.add_argument("--read-seconds", type=float, default=5.0)
    p.add_argument("--read-services", default=",".join(SERVICES), help="whose detail GET")
    p.add_argument("--poll", type=float, default=0.02, help="next service's read model, s")
    p.add_argument(
        "--own-poll",
        type=float,
        default=0.25,
        help="poll interval of a service's own read model, s (0: as --poll, and its lag reported)",
    )
    p.add_argument("--hops", action="store_true", help="also print the lag of every hop")
    p.add_argument(
        "--profile",
        type=Path,
        help="py-spy each service during its reads; collapsed stacks into this directory",
    )
    return p.parse_args(argv)


async def run(*, quick: bool = False) -> str:
    """The lifecycle figures as a markdown table, for ``python -m benchmarks``.

    Sizes: BENCH_LIFECYCLES cases (default 50, 10 with --quick) offered at
    BENCH_LIFECYCLE_RATE cases/s (default 1); reads for 5 s per service (2 s quick).
    """
    env = os.environ
    cases = int(env.get("BENCH_LIFECYCLES", 10 if quick else 50))
    rate = float(env.get("BENCH_LIFECYCLE_RATE", 1))
    result = await measure(cases, rate, read_seconds=2.0 if quick else 5.0)
    return markdown(result.lines())


async def main(argv: list[str]) -> int:
    args = parse_args(argv)
    result = await measure(
        args.cases,
        args.rate,
        read_rps=args.read_rps,
        read_seconds=args.read_seconds,
        read_services=[n.strip() for n in args.read_services.split(",") if n.strip()],
        poll=args.poll,
        own_poll=args.own_poll or None,
        profile=args.profile,
    )
    print(markdown(result.lines()))
    if args.hops:
        print()
        print(hop_table(result))
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
