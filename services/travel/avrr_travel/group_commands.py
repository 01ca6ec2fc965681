"""Commands on a group movement, and the reactions that take households off it.

A group command touches the group's stream and its households' movement streams in
ONE transaction: each stream is appended at the version it was loaded at, so a
withdrawal (or a suspension) committed on a movement between the load and the
append makes the whole command fail with 409 and nothing of it is written: the
withdrawn household never departs, and the officer's retry leaves it out. Two
assignments racing for the last seats append to the group at the same version:
one wins, the other is a 409.

The reactions run in the consumer's transaction after travel's own (reactions.py):
a household whose consent to the return is withdrawn, whose case is withdrawn or
closed, or whose destination is suspended leaves its group (HouseholdLeftGroup on the
group, MovementLeftGroup on the movement), which the travel officer sees on the group.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import EventStore, HandlerContext, Repository
from avrr_events.adapters.database import Database
from avrr_events.commands import CommandContext, CommandResult, check_if_match
from avrr_events.consumer import Reaction, reactions_table
from avrr_events.notices import N_
from avrr_events.problems import NotFound
from avrr_travel import consents, destinations
from avrr_travel.events import registry
from avrr_travel.group import Group, GroupEscort, GroupPlan, LeaveCause
from avrr_travel.movement import SOURCE, Movement
from avrr_travel.observed import (
    AssessmentClosed,
    CaseWithdrawn,
    ConsentWithdrawn,
    DestinationSuspended,
    HouseholdMemberJoined,
)
from avrr_travel.reasons import NO_MOVEMENT, worded

# A command's answer as JSON (dates and decimals as text), through pydantic's public API.
_JSON: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def _now() -> datetime:
    return datetime.now(UTC)


class GroupCommands:
    """The group commands over one service's database and store."""

    def __init__(
        self, db: Database, store: EventStore, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self.db = db
        self.groups: Repository[Group] = Repository(store, registry, Group, source=SOURCE)
        self.movements: Repository[Movement] = Repository(store, registry, Movement, source=SOURCE)
        self.clock = clock

    async def load(self, group_id: str, conn: AsyncConnection | None = None) -> Group:
        """The group (404 when never planned)."""
        group = await self.groups.load(group_id, conn=conn)
        if group.planned is None:
            raise NotFound(wording=worded(N_("no group %(group)s"), group=group_id))
        return group

    async def _change(
        self,
        group_id: str,
        context: CommandContext,
        decide: Callable[[Group, list[Movement]], Any],
        cases: Callable[[Group], list[str]],
        *,
        new: bool = False,
    ) -> CommandResult:
        """Load the group and the movements ``cases`` names, decide, append them all in one
        transaction at their loaded versions."""
        async with self.db.transaction() as conn:
            group = await self.groups.load(group_id, conn=conn)
            if not new and group.planned is None:
                raise NotFound(wording=worded(N_("no group %(group)s"), group=group_id))
            check_if_match(context.if_match, group.version)
            movements = [await self.movements.load(c, conn=conn) for c in cases(group)]
            for m in movements:
                if m.opened is None:
                    raise NotFound(wording=worded(NO_MOVEMENT, case=m.id))
            answer = decide(group, movements)
            cause = context.cause(group.id)
            for m in movements:
                if m.pending:
                    await self.movements.save(m, context.cause(m.id), conn=conn)
                    await destinations.remember(conn, m)
            await self.groups.save(group, cause, conn=conn)
        self.db.appended()
        body = summary(group)
        if isinstance(answer, dict):
            body.update(answer)
        return CommandResult(
            group.version,
            _JSON.dump_python(body, mode="json"),
            status=201 if new else 200,
            location=f"/groups/{group.id}" if new else None,
        )

    async def plan(self, plan: GroupPlan, context: CommandContext) -> CommandResult:
        at = self.clock()
        return await self._change(
            str(uuid.uuid4()), context, lambda g, _: g.plan(plan, at), lambda _: [], new=True
        )

    async def assign_escort(
        self, group_id: str, escort: GroupEscort, context: CommandContext
    ) -> CommandResult:
        at = self.clock()
        return await self._change(
            group_id, context, lambda g, _: g.assign_escort(escort, at), lambda _: []
        )

    async def assign(self, group_id: str, case_id: str, context: CommandContext) -> CommandResult:
        at = self.clock()
        return await self._change(
            group_id, context, lambda g, ms: g.assign(ms[0], at), lambda _: [case_id]
        )

    async def remove(self, group_id: str, case_id: str, context: CommandContext) -> CommandResult:
        at = self.clock()

        def decide(g: Group, ms: list[Movement]) -> None:
            if not g.remove(ms[0], "removed_by_travel_officer", at):
                raise NotFound(
                    wording=worded(
                        N_("case %(case)s is not in group %(group)s"), case=case_id, group=group_id
                    )
                )

        return await self._change(group_id, context, decide, lambda _: [case_id])

    async def depart(self, group_id: str, context: CommandContext) -> CommandResult:
        """Depart now (the officer confirms as the convoy leaves: no time in the past to
        race a withdrawal recorded meanwhile)."""
        at = self.clock()

        def decide(g: Group, ms: list[Movement]) -> dict[str, Any]:
            left = [m.id for m in ms if not m.ready_to_depart()]
            return {"departed": g.depart(ms, at), "left_behind": left}

        return await self._change(group_id, context, decide, lambda g: list(g.households))

    async def arrive(self, group_id: str, context: CommandContext) -> CommandResult:
        at = self.clock()
        return await self._change(
            group_id,
            context,
            lambda g, ms: {"arrived": g.arrive(ms, at)},
            lambda g: list(g.departed),
        )


def summary(group: Group) -> dict[str, Any]:
    """What the travel officer sees of a group: no personal data (case ids, seats, staff)."""
    planned = group.planned
    assert planned is not None
    return {
        "group_id": group.id,
        "office": planned.office,
        "mode": planned.mode,
        "departure_date": planned.departure_date,
        "route": planned.route,
        "carrier": planned.carrier,
        "capacity": planned.capacity,
        "seats_taken": group.seats_taken,
        "status": group.status,
        "escorts": [e.model_dump() for e in group.escorts.values()],
        "households": [{"case_id": c, "travellers": n} for c, n in group.households.items()],
        "left": [{"case_id": e.case_id, "cause": e.cause, "at": e.at} for e in group.left],
        "departed": group.departed,
        "departed_at": group.departed_at,
        "arrived_at": group.arrived_at,
        "version": group.version,
    }


# ----------------------------------------------------------------- reactions --


def _repos(ctx: HandlerContext) -> tuple[Repository[Group], Repository[Movement]]:
    assert ctx.store is not None, "the runtime passes the store"
    group = Repository(ctx.store, registry, Group, source=SOURCE)
    return group, Repository(ctx.store, registry, Movement, source=SOURCE)


async def leave_group(ctx: HandlerContext, case_id: str, cause: LeaveCause) -> None:
    """Take the case's household off its group, unless it departed already (the departure
    won the race: travel's withdrawal reaction flags that conflict)."""
    groups, movements = _repos(ctx)
    movement = await movements.load(case_id, conn=ctx.conn)
    if movement.group_id is None or movement.departed_at is not None:
        return
    group = await groups.load(movement.group_id, conn=ctx.conn)
    if group.remove(movement, cause, datetime.now(UTC)):
        await movements.save(movement, ctx.cause, conn=ctx.conn)
        await groups.save(group, ctx.cause, conn=ctx.conn)


async def leave_on_withdrawal(ctx: HandlerContext, event: CaseWithdrawn) -> None:
    await leave_group(ctx, event.case_id, "case_withdrawn")


async def leave_on_consent_withdrawal(ctx: HandlerContext, event: ConsentWithdrawn) -> None:
    if event.purpose == consents.RETURN_ASSISTANCE_PROCESSING:
        await leave_group(ctx, event.case_id, "consent_withdrawn")


async def leave_on_closure(ctx: HandlerContext, event: AssessmentClosed) -> None:
    await leave_group(ctx, event.case_id, "assessment_closed")


async def leave_on_lapsed_clearance(ctx: HandlerContext, event: HouseholdMemberJoined) -> None:
    """A person joined the cleared household: it waits for a new clearance, off its group."""
    if event.clearance_lapsed:
        await leave_group(ctx, event.case_id, "clearance_lapsed")


async def leave_on_suspension(ctx: HandlerContext, event: DestinationSuspended) -> None:
    """Every grouped household going to the suspended destination leaves its group (travel's
    own reaction held its movement)."""
    for case_id in await destinations.open_movements_to(
        ctx.conn, event.destination_country, event.destination_region
    ):
        await leave_group(ctx, case_id, "destination_suspended")


REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {
        CaseWithdrawn: [leave_on_withdrawal],
        ConsentWithdrawn: [leave_on_consent_withdrawal],
        AssessmentClosed: [leave_on_closure],
        DestinationSuspended: [leave_on_suspension],
        HouseholdMemberJoined: [leave_on_lapsed_clearance],
    }
)


def after(
    first: dict[str, list[Reaction]], then: dict[str, list[Reaction]]
) -> dict[str, list[Reaction]]:
    """Two reaction tables as one: for an event both react to, ``first``'s run first."""
    return {k: [*first.get(k, []), *then.get(k, [])] for k in {*first, *then}}
