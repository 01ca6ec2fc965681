"""The withdrawal window: from a withdrawal's 200 at intake until travel refuses a departure.

``python -m benchmarks.withdrawal`` (and ``python -m benchmarks --only
withdrawal``) measures it twice, with the steps of tests/withdrawal_steps.py:

- on the four processes (as ``make up`` runs them, on DATABASE_URL and
  KAFKA_BOOTSTRAP_SERVERS; ``benchmarks.lifecycle.four_processes``): the
  withdrawal travels intake's outbox -> Kafka -> travel's consumer;
- on the embedded default (one process, SQLite, the in-process bus).

N one-adult cases are brought to an open (``preparing``) movement, then,
one case at a time so that nothing else loads the machine, the withdrawal
is sent and a departure is posted every ``--poll`` seconds from its 200 on
until travel answers 422 with ``movement_status: cancelled`` (a probe
before that moment is refused as ``preparing``: it cannot depart anyone).
The figure's resolution is the poll interval plus one request, and the
probes load the travel process they wait for; so each deployment also
reports the window as travel stamped it: from the wall time of the 200 to
the time of travel's MovementCancelled for the case (the moment its
commands began to refuse; one host, one clock).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import ModuleType

import httpx

from avrr_events import Envelope
from avrr_events.testing import read_topic
from avrr_events.web.embedded import build_app
from benchmarks.common import database_url, kafka_settings, steps_of_the_tests
from benchmarks.lifecycle import (
    SERVICES,
    Line,
    four_processes,
    journey_steps,
    markdown,
    p50_p99,
    quantile,
    say,
)

TARGET_P99 = 0.5  # seconds, on the four processes (issue 15)


@functools.cache
def withdrawal_steps() -> ModuleType:
    """tests/withdrawal_steps.py: the race test's steps, reused here (written once)."""
    journey_steps()  # it imports journey_steps by name
    return steps_of_the_tests("withdrawal_steps")


TravelEvents = Callable[[], Awaitable[list[Envelope]]]
Figures = tuple[list[float], list[float]]  # polled, stamped by travel


async def windows(
    clients: dict[str, httpx.AsyncClient], travel_events: TravelEvents, cases: int, poll: float
) -> Figures:
    steps = journey_steps()
    wsteps = withdrawal_steps()
    platform = steps.Platform(clients, timeout=120.0, interval=0.1)
    say(f"withdrawal: {cases} cases up to an open movement")
    case_ids = await wsteps.prepared(platform, cases, first=20_000, ticket=False, parallel=4)
    await asyncio.sleep(1.0)  # let the set-up's last events settle before timing
    say(f"withdrawal: withdrawing them one at a time, a departure probe every {poll * 1000:g} ms")
    measured = [await wsteps.window(platform, c, poll=poll) for c in case_ids]
    cancelled = {
        e.subject: e.time
        for e in await travel_events()
        if e.type == "avrr.travel.MovementCancelled"
    }
    stamped = [(cancelled[w.case_id] - w.answered_at).total_seconds() for w in measured]
    return [w.polled for w in measured], stamped


async def on_four_processes(cases: int, poll: float) -> Figures:
    kafka = kafka_settings()
    with tempfile.TemporaryDirectory(prefix="avrr-withdrawal-") as logs:
        say(f"withdrawal: starting {', '.join(SERVICES)} as separate processes")
        async with (
            four_processes(database_url(), kafka, Path(logs)) as stack,
            AsyncExitStack() as stack_clients,
        ):
            clients = {
                name: await stack_clients.enter_async_context(
                    httpx.AsyncClient(base_url=proc.url, timeout=30.0)
                )
                for name, proc in stack.procs.items()
            }

            async def travel_events() -> list[Envelope]:
                records = await read_topic(kafka, f"{stack.prefix}.travel.events", 10**6, timeout=5)
                return [Envelope.from_message(m) for m in records]

            return await windows(clients, travel_events, cases, poll)


@asynccontextmanager
async def embedded_platform(
    data_dir: Path,
) -> AsyncIterator[tuple[dict[str, httpx.AsyncClient], TravelEvents]]:
    app = build_app(data_dir)
    travel = app.state.runtimes["travel"]
    assert travel.bus is not None, "the embedded default runs on the in-process bus"

    async def travel_events() -> list[Envelope]:
        messages = travel.bus.topics.get(travel.settings.topic("travel"), [])
        return [Envelope.from_message(m) for m in messages]

    async with app.router.lifespan_context(app), AsyncExitStack() as stack:
        transport = httpx.ASGITransport(app=app)
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://avrr/{name}", timeout=30)
            )
            for name in SERVICES
        }
        yield clients, travel_events


async def on_embedded(cases: int, poll: float) -> Figures:
    with tempfile.TemporaryDirectory(prefix="avrr-withdrawal-embedded-") as data:
        say("withdrawal: the embedded default (SQLite, in-process bus)")
        async with embedded_platform(Path(data)) as (clients, travel_events):
            return await windows(clients, travel_events, cases, poll)


def lines(four: Figures | None, embedded: Figures | None, poll: float) -> list[Line]:
    out = []
    for name, figures in (("four processes over Kafka", four), ("embedded default", embedded)):
        if not figures:
            continue
        polled, stamped = figures
        on_kafka = figures is four
        out.append(
            Line(
                f"withdrawal window, {name}: intake's 200 -> travel refuses a departure, "
                f"p50 / p99 ({len(polled)} withdrawals, probe every {poll * 1000:g} ms)",
                p50_p99(polled),
                "p99 < 500 ms" if on_kafka else "-",
                quantile(polled, 0.99) < TARGET_P99 if on_kafka else None,
            )
        )
        out.append(
            Line(
                f"withdrawal window, {name}: intake's 200 -> travel's MovementCancelled "
                "(as travel stamped it), p50 / p99",
                p50_p99(stamped),
                "p99 < 500 ms" if on_kafka else "-",
                quantile(stamped, 0.99) < TARGET_P99 if on_kafka else None,
            )
        )
    return out


async def run(*, quick: bool = False) -> str:
    """The withdrawal-window lines as a markdown table, for ``python -m benchmarks``.

    Sizes: BENCH_WITHDRAWALS cases per deployment (default 30, 10 with --quick).
    """
    cases = int(os.environ.get("BENCH_WITHDRAWALS", 10 if quick else 30))
    poll = 0.02
    four = await on_four_processes(cases, poll)
    embedded = await on_embedded(cases, poll)
    return markdown(lines(four, embedded, poll))


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.withdrawal", description=__doc__)
    p.add_argument("--cases", type=int, default=int(os.environ.get("BENCH_WITHDRAWALS", 30)))
    p.add_argument("--poll", type=float, default=0.02, help="departure probe interval, s")
    p.add_argument("--only", choices=("four", "embedded"), help="one deployment only")
    args = p.parse_args(argv)
    four = await on_four_processes(args.cases, args.poll) if args.only != "embedded" else None
    embedded = await on_embedded(args.cases, args.poll) if args.only != "four" else None
    print(markdown(lines(four, embedded, args.poll)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
