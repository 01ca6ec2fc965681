"""Pre-departure assistance: the commands and routes that charge it to the programme's budget.

A travel officer records what a traveller received before departure (lodging nights, food and
hygiene kits, medical examinations, tests, cash-based interventions) on the case's movement;
it is charged to the budget line of the movement's programme (budgets.py), within the line's
cap per person, the line's amount and the programme's total. The programme's consumption per
line is a report without personal data.

Why the charge appends to the programme's budget stream, not to the movement's: a cap is the
whole programme's, so two officers charging two people (or ticketing two households) at the
same moment decide on the same budget version, and one append wins. The loser's decision did
not depend on the winner's case, only on the totals, so it is taken again on the new totals
(``on_the_budget``, a savepoint per attempt): it succeeds, or is refused with 422 when the cap
is reached. No officer sees a 409 for someone else's case, as in reintegration's programme
allocation; the cap holds under any interleaving. The movement is read in the same transaction
to know the programme and that the person travels on it, before departure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Repository
from avrr_events.adapters.database import Database
from avrr_events.commands import CommandContext, CommandResult
from avrr_events.notices import N_
from avrr_events.problems import DomainRuleViolation, NotFound
from avrr_events.shared_streams import decided_again_when_raced
from avrr_events.web.authorization import Policy, Role, allow
from avrr_events.web.commands import Command
from avrr_events.web.service import runtime_of
from avrr_travel.api import case_offices
from avrr_travel.budgets import (
    Amount,
    AssistanceKind,
    Budget,
    BudgetCatalogue,
    Currency,
    ProgrammeBudget,
    TravelCost,
    load_budgets,
)
from avrr_travel.events import registry
from avrr_travel.movement import SOURCE, Booking, Cost, Movement
from avrr_travel.reasons import NO_MOVEMENT, NOT_A_TRAVELLER, worded

router = APIRouter(tags=["pre-departure assistance"])

# The movement's travel officer records; the budget's report is read by those who answer for it.
POLICY = Policy(
    {
        "POST /movements/{case_id}/pre-departure-assistance": allow(
            Role.TRAVEL_OFFICER, scope="case"
        ),
        "GET /budgets/{programme_id}": allow(
            Role.TRAVEL_OFFICER, Role.SUPERVISOR, Role.AUDITOR, scope="none"
        ),
    },
    case_offices=case_offices,
)
STILL_BEFORE_DEPARTURE = frozenset({"preparing", "ticketed", "no_show"})
BUDGET_ATTEMPTS = 8


class AssistanceGiven(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(min_length=1, max_length=200)
    kind: AssistanceKind
    quantity: int = Field(default=1, ge=1, le=1000, description="nights, kits, tests...")
    amount: Amount = Field(description="the total for the quantity, in the budget's currency")
    currency: Currency


@cache
def budgets() -> BudgetCatalogue:
    """The packaged budget file, read once."""
    return load_budgets()


# Validated when the service is assembled (main.py imports this module): a malformed budget
# file stops the start with the file and field named, instead of failing tickets later.
budgets()


def rules_of(programme_id: str) -> ProgrammeBudget:
    rules = budgets().programmes.get(programme_id)
    if rules is None:
        raise DomainRuleViolation(
            wording=worded(
                N_("the programme %(programme)s has no pre-departure budget"),
                programme=programme_id,
            )
        )
    return rules


class PreDepartureCommands:
    """Charges to a programme's pre-departure budget, read against the case's movement."""

    def __init__(self, db: Database, movements: Repository[Movement]) -> None:
        self.db = db
        self.movements = movements
        self.budgets: Repository[Budget] = Repository(
            movements.store, registry, Budget, source=SOURCE
        )

    async def record_assistance(
        self,
        case_id: str,
        person_id: str,
        kind: AssistanceKind,
        quantity: int,
        amount: Decimal,
        currency: str,
        context: CommandContext,
    ) -> CommandResult:
        async with self.db.transaction() as conn:
            movement = await self.movements.load(case_id, conn=conn)
            if movement.opened is None:
                raise NotFound(wording=worded(NO_MOVEMENT, case=case_id))
            if person_id not in movement.travellers:
                raise DomainRuleViolation(wording=worded(NOT_A_TRAVELLER, person=person_id))
            if movement.status not in STILL_BEFORE_DEPARTURE:
                raise movement.refusal(
                    worded(N_("pre-departure assistance is given before departure"))
                )
            rules = rules_of(movement.opened.programme_id)
            at = datetime.now(UTC)
            by = context.principal.user_id
            budget = await self.on_the_budget(
                conn,
                movement.opened.programme_id,
                context,
                lambda b: b.record_assistance(
                    rules, case_id, person_id, kind, quantity, amount, currency, by, at
                ),
            )
        self.db.appended()
        return CommandResult(budget.version, {"case_id": case_id, **budget.report(rules)})

    async def charge_ticket(
        self, conn: AsyncConnection, case_id: str, booking: Booking, context: CommandContext
    ) -> None:
        """Charge the ticket's and the escorts' costs to the travel line of the movement's
        programme, in the ticket's transaction (the budget's stream first: 409 on a race).

        Nothing for no cost or a zero one, or when the programme keeps no pre-departure budget;
        422 when the cost is in another currency or beyond the line or the total."""
        movement = await self.movements.load(case_id, conn=conn)
        priced: list[tuple[TravelCost, Cost | None]] = [("ticket", booking.cost)]
        priced += [("escort", e.cost) for e in booking.escorts]
        costs = [(what, cost) for what, cost in priced if cost is not None and cost.amount > 0]
        if not costs or movement.opened is None:
            return
        rules = budgets().programmes.get(movement.opened.programme_id)
        if rules is None:
            return
        at = datetime.now(UTC)

        def charge(budget: Budget) -> None:
            for what, cost in costs:
                budget.charge_travel(rules, case_id, what, cost.amount, cost.currency, at)

        await self.on_the_budget(conn, movement.opened.programme_id, context, charge)

    async def on_the_budget(
        self,
        conn: AsyncConnection,
        programme_id: str,
        context: CommandContext,
        decide: Callable[[Budget], None],
    ) -> Budget:
        """Load the programme's budget, let it decide, append: in a savepoint of ``conn``'s
        transaction, taken again on the new totals when another charge appended first.

        The ETag the caller holds is the movement's, not the budget's: no If-Match here.
        PostgreSQL reports the conflict once the other charge has committed, so the next
        load sees it; BUDGET_ATTEMPTS bounds a programme charged faster than it can decide.
        """
        unconditional = dataclasses.replace(context, if_match=None)

        async def attempt() -> Budget:
            async with conn.begin_nested():
                budget, _ = await self.budgets.execute(
                    programme_id, unconditional, decide, conn=conn
                )
            return budget

        return await decided_again_when_raced(attempt, attempts=BUDGET_ATTEMPTS)

    async def report(self, programme_id: str) -> dict[str, Any]:
        """The programme's consumption per line; 404 for a programme without a budget."""
        rules = budgets().programmes.get(programme_id)
        if rules is None:
            raise NotFound(
                wording=worded(
                    N_("no pre-departure budget for programme %(programme)s"),
                    programme=programme_id,
                )
            )
        budget = await self.budgets.load(programme_id)
        return budget.report(rules)


def pre_departure_commands(request: Request) -> PreDepartureCommands:
    runtime = runtime_of(request)
    movements: Repository[Movement] = runtime.commands.repo
    return PreDepartureCommands(runtime.db, movements)


Charges = Annotated[PreDepartureCommands, Depends(pre_departure_commands)]


@router.post("/movements/{case_id}/pre-departure-assistance")
async def record_assistance(
    case_id: str, body: AssistanceGiven, charges: Charges, command: Command
) -> Any:
    """Record assistance given to a traveller before departure, charged to the programme's
    budget line: 422 beyond a cap or in another currency (charges racing for the budget are taken
    in turn on the new totals)."""
    return await command(lambda ctx: charges.record_assistance(case_id, **dict(body), context=ctx))


@router.get("/budgets/{programme_id}")
async def budget_report(programme_id: str, charges: Charges) -> JSONResponse:
    """The programme's pre-departure budget: per line budgeted, spent and left (no personal
    data)."""
    return JSONResponse(jsonable_encoder(await charges.report(programme_id)))
