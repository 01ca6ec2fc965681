"""CPU per detail read and per command of each service against the lean anchor (issue 21).

``python -m benchmarks --only anchor`` (or ``python -m benchmarks.anchor``)
starts, in the same run, the lean anchor (benchmarks/lean_anchor.py, its own
process on its own temporary database) and the four services (as
benchmarks/lifecycle.py does: each its own process, PostgreSQL + Kafka), then
for each of them sends the same client load and reads the process's CPU from
/proc/<pid>/stat before and after (lifecycle.cpu_seconds):

- reads: BENCH_ANCHOR_READS GETs of the detail route, ``CONCURRENCY`` in flight;
- commands: BENCH_ANCHOR_COMMANDS POSTs of a repeatable command, one at a time
  (a case's commands are serialised by its version anyway).

What is measured per service (the detail read of lifecycle.py, and a command
each service serves over REST that a case takes more than once):

- intake: GET /cases/{id} (the decrypted case file); POST /cases/{id}/counselling-sessions
- eligibility: GET /assessments/{id}; POST /assessments/{id}/vulnerability-screenings
- travel: GET /movements/{id}; POST /movements/{id}/documents
- reintegration: GET /cases/{id}; POST /cases/{id}/disbursements

The anchor's are GET /cases/{id} and POST /cases/{id}/notes. Targets: issue
21's, CPU per detail read <= 2x the anchor's. CPU per request includes
everything the process does meanwhile (the relay polling, the consumers), as
it does for the services in production; the anchor has none of that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from avrr_events.testing import _free_port
from benchmarks.common import database_url, fresh_database, kafka_settings
from benchmarks.lifecycle import (
    SERVICES,
    Line,
    cpu_seconds,
    four_processes,
    journey_steps,
    markdown,
    sampled,
)

CONCURRENCY = 4
READ_TARGET = 2.0  # issue 21: CPU per detail read <= 2x the anchor's


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Cost:
    """CPU seconds per request of one process, and how many requests it was measured over."""

    cpu: float
    requests: int
    errors: int

    @property
    def ms(self) -> float:
        return self.cpu / self.requests * 1000 if self.requests else float("nan")


async def cost(
    pid: int, requests: int, send: Callable[[int], Awaitable[httpx.Response]], concurrency: int
) -> Cost:
    """``send(k)`` for k < requests, ``concurrency`` at a time; the process's CPU per request."""
    errors = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        for k in queue:
            response = await send(k)
            if response.status_code >= 300:
                errors += 1
                if errors <= 3:
                    say(f"anchor: {response.request.url}: {response.status_code} {response.text}")

    before = cpu_seconds(pid)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Cost(cpu_seconds(pid) - before, requests, errors)


@asynccontextmanager
async def lean_anchor(logs: Path) -> AsyncIterator[tuple[int, httpx.AsyncClient]]:
    """The anchor's process on a fresh database: (pid, client); stopped and dropped after."""
    async with fresh_database(database_url()) as db:
        port = _free_port()
        env = {**os.environ, "ANCHOR_DSN": db.dsn, "ANCHOR_PORT": str(port)}
        log = (logs / "lean_anchor.log").open("w")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.lean_anchor", env=env, stdout=log, stderr=log
        )
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=30.0, limits=LIMITS
            ) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if (await client.get("/health/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if process.returncode is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"lean anchor not ready: see {logs}/lean_anchor.log")
                    await asyncio.sleep(0.2)
                yield process.pid, client
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()
            log.close()


LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)


def commands(steps: Any, cases: list[Any]) -> dict[str, tuple[str, Callable[[int], Any], Any]]:
    """Per service: (route, body of the k-th command, headers) of its repeatable command."""

    def disbursement(k: int) -> dict[str, Any]:
        # One cent each: hundreds of them stay within the plan's 300.00 budget.
        return {
            "kind": "cash",
            "amount": "0.01",
            "currency": "USD",
            "method": "mobile_money",
            "disbursed_on": steps.today(),
        }

    return {
        "intake": (
            "/cases/{id}/counselling-sessions",
            lambda k: steps.counselling(topics=[f"session {k}"]),
            steps.CASEWORKER,
        ),
        "eligibility": (
            "/assessments/{id}/vulnerability-screenings",
            lambda k: {
                "person_id": cases[k % len(cases)].mother,
                "categories": [{"category": "single_parent_family", "severity": "medium"}],
            },
            steps.CASEWORKER,
        ),
        "travel": (
            "/movements/{id}/documents",
            lambda k: {
                "person_id": cases[k % len(cases)].mother,
                "document_type": "passport",
                "obtained_on": steps.today(),
            },
            steps.TRAVEL_OFFICER,
        ),
        "reintegration": ("/cases/{id}/disbursements", disbursement, steps.REINTEGRATION_OFFICER),
    }


def sender(
    client: httpx.AsyncClient,
    route: str,
    ids: list[str],
    headers: Mapping[str, str],
    body: Callable[[int], Any] | None = None,
) -> Callable[[int], Awaitable[httpx.Response]]:
    """The k-th request: GET (or, with ``body``, POST body(k)) ``route`` of the k-th case."""

    async def send(k: int) -> httpx.Response:
        path = route.format(id=ids[k % len(ids)])
        if body is None:
            return await client.get(path, headers=dict(headers))
        return await client.post(path, json=body(k), headers=dict(headers))

    return send


DETAILS = {
    "intake": ("/cases/{id}", "CASEWORKER"),
    "eligibility": ("/assessments/{id}", "CASEWORKER"),
    "travel": ("/movements/{id}", "TRAVEL_OFFICER"),
    "reintegration": ("/cases/{id}", "REINTEGRATION_OFFICER"),
}


async def measure(
    reads: int, writes: int, cases: int = 4, profile: Path | None = None
) -> list[Line]:
    """The rows; with ``profile``, py-spy's collapsed stacks of each service's reads in it."""
    steps = journey_steps()
    lines: list[Line] = []
    with tempfile.TemporaryDirectory(prefix="avrr-anchor-") as logs:
        say("anchor: starting the lean anchor and the four services as separate processes")
        async with (
            lean_anchor(Path(logs)) as (anchor_pid, anchor),
            four_processes(database_url(), kafka_settings(), Path(logs)) as stack,
        ):
            clients = {
                name: httpx.AsyncClient(base_url=proc.url, timeout=30.0, limits=LIMITS)
                for name, proc in stack.procs.items()
            }
            try:
                platform = steps.Platform(clients, timeout=60.0, interval=0.05)
                say(f"anchor: {cases} cases up to arrival (+ plan), for the services' rows")
                done = []
                for i in range(cases):
                    case = await steps.case_through(
                        platform, steps.request_return, steps.clear, n=20_000 + i
                    )
                    done.append(case)
                travelled = []
                for i in range(cases):
                    case = await steps.case_through(
                        platform,
                        steps.request_return,
                        steps.clear,
                        steps.ticket,
                        steps.travel_home,
                        n=30_000 + i,
                    )
                    plan = steps.plan(steps.component("economic", "stall", "300.00"))
                    await platform.post(
                        "reintegration",
                        f"/cases/{case.case_id}/plan",
                        plan,
                        steps.REINTEGRATION_OFFICER,
                        expect=201,
                    )
                    travelled.append(case)
                anchor_ids = [str(uuid.uuid4()) for _ in range(cases)]
                note = {"text": "counselled; decided to apply " * 4, "author": "caseworker-1"}
                for cid in anchor_ids:
                    (await anchor.post(f"/cases/{cid}/notes", json=note)).raise_for_status()

                async def anchor_read(k: int) -> httpx.Response:
                    return await anchor.get(f"/cases/{anchor_ids[k % cases]}")

                async def anchor_write(k: int) -> httpx.Response:
                    return await anchor.post(f"/cases/{anchor_ids[k % cases]}/notes", json=note)

                # Warm-up: every process's first requests import and compile lazily.
                await cost(anchor_pid, 50, anchor_read, CONCURRENCY)

                read_costs: dict[str, tuple[Cost, Cost]] = {}
                for name in SERVICES:
                    route, who = DETAILS[name]
                    headers: Mapping[str, str] = getattr(steps, who)
                    ids = [c.case_id for c in (travelled if name == "reintegration" else done)]
                    pid = stack.procs[name].process.pid

                    read = sender(clients[name], route, ids, headers)
                    await cost(pid, 50, read, CONCURRENCY)  # warm-up
                    say(f"anchor: {reads} reads, anchor then {name} GET {route}")
                    ours_anchor = await cost(anchor_pid, reads, anchor_read, CONCURRENCY)
                    async with sampled(stack.procs[name], profile, reads * 0.01, label="reads"):
                        ours = await cost(pid, reads, read, CONCURRENCY)
                    read_costs[name] = (ours, ours_anchor)

                write_costs: dict[str, tuple[Cost, Cost, str]] = {}
                for name, (route, body, headers) in commands(steps, done).items():
                    ids = [c.case_id for c in (travelled if name == "reintegration" else done)]
                    pid = stack.procs[name].process.pid

                    write = sender(clients[name], route, ids, headers, body)
                    say(f"anchor: {writes} commands, anchor then {name} POST {route}")
                    ours_anchor = await cost(anchor_pid, writes, anchor_write, 1)
                    ours = await cost(pid, writes, write, 1)
                    write_costs[name] = (ours, ours_anchor, route)
            finally:
                for client in clients.values():
                    await client.aclose()
    for name, (ours, base) in read_costs.items():
        ratio = ours.ms / base.ms
        lines.append(
            Line(
                f"CPU per REST read vs lean anchor, {name} (GET {DETAILS[name][0]}, "
                f"{ours.requests} reads, {CONCURRENCY} in flight, {ours.errors} errors)",
                f"{ours.ms:.2f} ms vs {base.ms:.2f} ms: {ratio:.1f}x",
                f"<= {READ_TARGET:g}x",
                ratio <= READ_TARGET and not ours.errors,
            )
        )
    for name, (ours, base, route) in write_costs.items():
        lines.append(
            Line(
                f"CPU per command vs lean anchor, {name} (POST {route}, "
                f"{ours.requests} one at a time, {ours.errors} errors)",
                f"{ours.ms:.2f} ms vs {base.ms:.2f} ms: {ours.ms / base.ms:.1f}x",
            )
        )
    return lines


async def run(*, quick: bool = False) -> str:
    """The rows as a markdown table, for ``python -m benchmarks``.

    Sizes: BENCH_ANCHOR_READS reads (default 2,000, 400 with --quick) and
    BENCH_ANCHOR_COMMANDS commands (default 300, 60 with --quick) per process.
    """
    env = os.environ
    reads = int(env.get("BENCH_ANCHOR_READS", 400 if quick else 2000))
    writes = int(env.get("BENCH_ANCHOR_COMMANDS", 60 if quick else 300))
    return markdown(await measure(reads, writes))


async def main(argv: list[str]) -> int:
    """``python -m benchmarks.anchor [--quick] [--profile DIR]``: print the rows."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.anchor", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy each service's reads into DIR")
    args = parser.parse_args(argv)
    if args.profile is None:
        print(await run(quick=args.quick))
        return 0
    env = os.environ
    reads = int(env.get("BENCH_ANCHOR_READS", 2000))
    writes = int(env.get("BENCH_ANCHOR_COMMANDS", 300))
    print(markdown(await measure(reads, writes, profile=args.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
