"""Group departure (travel, issue 20): the time to depart a convoy of 50 households.

``python -m benchmarks.group_departure`` (and ``python -m benchmarks --only groups``)
prepares convoys of BENCH_CONVOY households (default 50; two travellers each, documented,
fit and ticketed, through the Movement aggregate and travel's own repository), seats them
in a group with ``GroupCommands.assign``, then times ``GroupCommands.depart``: the one
command that loads the group and its 50 movements, decides, and appends 50
DepartureConfirmed and the GroupDeparted in one transaction (each stream at its version).

Measured on PostgreSQL (a fresh database, travel's migrations, its outbox) and on the
embedded default (SQLite), BENCH_CONVOYS convoys each (default 5; 2 with --quick); the
table gives the median and the slowest. Target: under 2 s on PostgreSQL (an officer's
button press as the bus leaves).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

from avrr_events.commands import Cause, CommandContext, Principal
from avrr_events.settings import ServiceSettings
from avrr_events.testing import delete_topics, running
from avrr_events.web.embedded import embedded_settings
from avrr_events.web.service import ServiceRuntime
from avrr_travel import destinations
from avrr_travel.group import GroupPlan
from avrr_travel.group_commands import GroupCommands
from avrr_travel.main import service
from avrr_travel.movement import Booking, Movement
from avrr_travel.observed import DueDiligenceCleared
from benchmarks.common import REPO, database_url, fresh_database, kafka_settings

TARGET_SECONDS = 2.0
OFFICER = Principal("bench-officer", frozenset({"travel_officer"}), frozenset({"GT-GUA"}))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@functools.cache
def _travel_fixtures() -> ModuleType:
    """services/travel/tests/travel_fixtures.py: travel's test builders, whose clearance of a
    mother and her daughter is the bench's household too (written once)."""
    path = REPO / "services" / "travel" / "tests" / "travel_fixtures.py"
    spec = importlib.util.spec_from_file_location("travel_fixtures", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cleared(case_id: str) -> DueDiligenceCleared:
    """travel_fixtures.cleared for ``case_id``: its travellers' ids unique to the case, and
    cleared now."""
    fixtures = _travel_fixtures()
    household = [
        fixtures.member(f"{case_id}-p1", 34),
        fixtures.member(f"{case_id}-p2", 7, "child"),
    ]
    cleared: DueDiligenceCleared = fixtures.cleared(
        case_id, household, cleared_at=datetime.now(UTC).isoformat()
    )
    return cleared


async def ticketed_household(rt: ServiceRuntime, commands: GroupCommands, case_id: str) -> None:
    """One household ready to depart today, written as travel writes it."""
    now = datetime.now(UTC)
    movement = Movement(case_id)
    movement.open(_cleared(case_id), now)
    for pid in movement.travellers:
        movement.obtain_document(pid, "passport", now.date())
        movement.confirm_fitness(pid, "fit", None, None, now)
    reference = await rt.cipher.encrypt(f"{case_id}-p1", "TDN-4471")
    booking = Booking(
        "land",
        "Transportes del Norte",
        reference,
        now.date(),
        ["Guatemala City", "San Pedro Sula"],
        None,
    )
    movement.issue_ticket(booking, now.date(), now)
    async with rt.db.transaction() as conn:
        await commands.movements.save(movement, Cause.new(case_id), conn=conn)
        await destinations.remember(conn, movement)


async def one_convoy(rt: ServiceRuntime, households: int) -> float:
    """Prepare and seat a convoy; the seconds its departure took."""
    commands = GroupCommands(rt.db, rt.store)
    context = CommandContext(OFFICER)
    run = secrets.token_hex(4)
    cases = [f"bench-{run}-{n:03d}" for n in range(households)]
    for case_id in cases:
        await ticketed_household(rt, commands, case_id)
    plan = GroupPlan(
        office="GT-GUA",
        mode="bus",
        departure_date=date.today(),
        route=["Guatemala City", "San Pedro Sula"],
        capacity=2 * households,
        carrier="Transportes del Norte",
    )
    planned = await commands.plan(plan, context)
    group_id = str(planned.body["group_id"])
    for case_id in cases:
        await commands.assign(group_id, case_id, context)
    started = time.perf_counter()
    result = await commands.depart(group_id, context)
    elapsed = time.perf_counter() - started
    assert len(result.body["departed"]) == households, result.body
    return elapsed


async def convoys(settings: ServiceSettings, households: int, rounds: int) -> list[float]:
    async with running(service, settings, base_url="http://travel") as (rt, _http):
        return [await one_convoy(rt, households) for _ in range(rounds)]


async def on_postgres(households: int, rounds: int) -> list[float]:
    prefix = f"bench-{secrets.token_hex(3)}"
    async with fresh_database(database_url()) as bench:
        settings = ServiceSettings(
            database_url=bench.url,
            kafka_bootstrap_servers=kafka_settings().bootstrap_servers,
            dev=True,
            topic_prefix=prefix,
            relay_poll_interval=0.2,
        )
        try:
            return await convoys(settings, households, rounds)
        finally:
            # The service's topics under the run's prefix, as a test's are deleted.
            delete_topics(f"{prefix}.")


async def on_embedded(households: int, rounds: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="avrr-groups-embedded-") as data:
        return await convoys(embedded_settings("travel", Path(data)), households, rounds)


def markdown(households: int, figures: dict[str, list[float]]) -> str:
    rows = [
        f"| Group departure: a convoy of {households} households | median s | slowest s "
        f"| convoys | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, times in figures.items():
        ordered = sorted(times)
        median = ordered[len(ordered) // 2]
        target = f"< {TARGET_SECONDS:g} s" if name == "PostgreSQL" else "-"
        rows.append(f"| {name} | {median:.3f} | {ordered[-1]:.3f} | {len(ordered)} | {target} |")
    return "\n".join(rows)


async def run(*, quick: bool = False) -> str:
    households = int(os.environ.get("BENCH_CONVOY", 50))
    rounds = int(os.environ.get("BENCH_CONVOYS", 2 if quick else 5))
    say(f"groups: {rounds} convoys of {households} households on PostgreSQL")
    pg = await on_postgres(households, rounds)
    say(f"groups: {rounds} convoys of {households} households on the embedded default")
    embedded = await on_embedded(households, rounds)
    return markdown(households, {"PostgreSQL": pg, "embedded default (SQLite)": embedded})


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.group_departure")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    print(asyncio.run(run(quick=args.quick)))


if __name__ == "__main__":
    main()
