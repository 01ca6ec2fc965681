"""Issue 15: 50 departures race 50 withdrawals on the four processes; none lands silently.

Each of 50 one-adult cases is ticketed, then its withdrawal (intake) and its
departure (travel) are sent concurrently with the other cases', in a random
order a few milliseconds apart. Travel learns of a withdrawal only through
Kafka, so some departures are accepted after their withdrawal. What must
hold, whatever the interleaving:

- every departure recorded after its withdrawal's time (the DepartureConfirmed
  on travel's topic, stamped after CaseWithdrawn.withdrawn_at on intake's) is
  flagged by exactly one WithdrawalConflictDetected naming it, which shows in
  intake's case timeline and on travel's supervisors' list;
- in particular every departure *sent* after the withdrawal's 200 and
  accepted is flagged (a bound the servers' clocks cannot blur);
- no departure recorded before its withdrawal is flagged (in particular none
  answered before the withdrawal was sent), and it stays ``departed``;
- every departure refused leaves a cancelled movement.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import datetime

from journey_steps import CASEWORKER, SERVICES, Platform, clients_of
from test_return_journey import StartProcesses, kafka_events, topic_prefix
from withdrawal_steps import prepared, race

from avrr_events import Envelope
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually

CASES = 50
DETECTED = "avrr.travel.WithdrawalConflictDetected"
SUPERVISOR = {**CASEWORKER, "X-AVRR-User": "supervisor-1", "X-AVRR-Roles": "supervisor"}


def by_case(envelopes: list[Envelope], event_type: str) -> dict[str, list[Envelope]]:
    out: dict[str, list[Envelope]] = {}
    for e in envelopes:
        if e.type == event_type:
            out.setdefault(e.subject, []).append(e)
    return out


async def test_fifty_departures_racing_fifty_withdrawals_are_never_silent(
    service_processes: StartProcesses, kafka_bootstrap: str
) -> None:
    # One at a time: four interpreters starting together on two busy cores outwait the
    # fixture's readiness timeout.
    procs = {}
    for name in SERVICES:
        procs.update(await service_processes(name))
    events = kafka_events(KafkaSettings(kafka_bootstrap), topic_prefix(procs))
    async with AsyncExitStack() as stack:
        clients = await clients_of(stack, procs, SERVICES, timeout=60.0)
        await never_silent(Platform(clients, events), CASES)


async def never_silent(platform: Platform, cases: int) -> None:
    """The race on ``platform`` and what must hold after it (the module's docstring)."""
    p = Platform(platform.clients, platform.events, timeout=120.0, interval=0.25)
    case_ids = await prepared(p, cases, first=500, ticket=True, parallel=6)
    races = await race(p, case_ids, seed=15)

    for r in races:
        assert r.withdrawal is not None and r.withdrawal.status == 200, r
        assert r.departure is not None and r.departure.status in (200, 409, 422), r
    departed = {r.case_id: r for r in races if r.departed}

    # Intake's withdrawal times, and travel's record of each accepted departure.
    withdrawn = by_case(await p.events("intake"), "avrr.intake.CaseWithdrawn")
    assert set(withdrawn) == set(case_ids)
    withdrawn_at = {
        c: datetime.fromisoformat(es[0].data["withdrawn_at"]) for c, es in withdrawn.items()
    }
    departures: dict[str, list[Envelope]] = {}

    async def departures_published() -> bool:
        departures.clear()
        departures.update(by_case(await p.events("travel"), "avrr.travel.DepartureConfirmed"))
        return set(departures) == set(departed)

    await eventually(departures_published, timeout=60, interval=1.0)
    late = {c for c, [d] in departures.items() if d.time > withdrawn_at[c]}
    early = set(departed) - late
    # Bounds the clocks cannot blur, checked against the servers' times.
    for c, r in departed.items():
        if r.departure_sent_after_withdrawal_answered:
            assert c in late, (c, r)
        if r.departure_answered_before_withdrawal_sent:
            assert c in early, (c, r)

    # Every late departure is flagged, once, naming it; then nothing more appears.
    flags: dict[str, list[Envelope]] = {}

    async def flagged() -> bool:
        flags.clear()
        flags.update(by_case(await p.events("travel"), DETECTED))
        return set(flags) >= late

    await eventually(flagged, timeout=60, interval=1.0)
    await asyncio.sleep(3.0)  # the withdrawals of early departures are handled too by now
    published = await p.events("travel")
    flags = by_case(published, DETECTED)
    assert set(flags) == late, f"flagged {sorted(flags)}, late {sorted(late)}"
    for c in late:
        [flag] = flags[c]
        assert flag.data["conflicting_event_id"] == departures[c][0].id
        assert flag.data["command"] == "departure"
    cancelled = set(by_case(published, "avrr.travel.MovementCancelled"))
    assert cancelled == set(case_ids) - set(departed)
    assert late, "no departure landed inside the window: the race proved nothing"

    # On the supervisors' list of the office, and in each case's timeline at intake.
    async def listed() -> bool:
        response = await p.get(
            "travel", "/withdrawal-conflicts?office=GT-GUA&status=all", SUPERVISOR
        )
        assert response.status_code == 200, response.text
        return {c["case_id"] for c in response.json()["conflicts"]} == late

    await eventually(listed, timeout=60, interval=0.5)
    for c in sorted(late):

        async def in_timeline(case_id: str = c) -> bool:
            response = await p.get("intake", f"/cases/{case_id}/timeline?limit=200", CASEWORKER)
            return DETECTED in {item["type"] for item in response.json()["items"]}

        await eventually(in_timeline, timeout=60, interval=0.5)
    for c in early:
        movement = await p.get("travel", f"/movements/{c}", CASEWORKER)
        assert movement.json()["status"] == "departed", movement.text
