"""Pre-departure budgets: what a programme spends before departure, line by line, within caps.

Before departure the programmes give lodging nights, food and hygiene kits, medical
examinations, tests and cash-based assistance, and pay tickets and escorts. Each is charged
to one of the programme's budget lines (``budgets.yaml``, a programme manager's data:
amount and currency per line, a cap per person on the lines given per person, an optional
cap on the programme's total). Travel is the pre-departure service, so the ledger lives here.

One stream per programme (``budget-<programme_id>``), like reintegration's
ProgrammeAllocation: a cap is a fact of the whole programme's history, so two charges for
two different people can together break it although each is right on its own. Every charge
appends to the programme's stream with the version it decided on; two charges decided on
the same version cannot both be appended (the loser's command gets 409 and is decided again
on the new totals), so no cap is ever passed, and the totals are rebuilt from the events.
A charge records no personal data: the case and person ids, the kind, quantity and amount.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from avrr_events import Aggregate, DomainEvent
from avrr_events.data_files import DataFile
from avrr_events.money import amount_schema
from avrr_events.notices import N_
from avrr_events.problems import DomainRuleViolation
from avrr_events.registry import declared_events
from avrr_travel.reasons import worded

# What is given before departure, and the travel costs charged to the same budgets.
AssistanceKind = Literal[
    "lodging_night",
    "food_kit",
    "hygiene_kit",
    "medical_examination",
    "test",
    "cash_based_intervention",
]
TravelCost = Literal["ticket", "escort"]
BudgetLine = Literal["lodging", "kits", "medical", "tests", "cash", "travel"]
# Which line each is charged to.
LINE_OF: dict[str, BudgetLine] = {
    "lodging_night": "lodging",
    "food_kit": "kits",
    "hygiene_kit": "kits",
    "medical_examination": "medical",
    "test": "tests",
    "cash_based_intervention": "cash",
    "ticket": "travel",
    "escort": "travel",
}
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
Amount = Annotated[
    Decimal,
    WithJsonSchema(amount_schema(12, 2, positive=True)),
    Field(gt=0, max_digits=12, decimal_places=2),
]


# ----------------------------------------------------------- configuration --


class BudgetLineRule(BaseModel):
    """One line: its amount for the programme, and the most one person may receive from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    per_person: Amount | None = None


class ProgrammeBudget(BaseModel):
    """A programme's pre-departure budget: one currency, its lines, an optional total cap."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: Currency
    lines: dict[BudgetLine, BudgetLineRule] = Field(min_length=1)
    total: Amount | None = None


class BudgetCatalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    programmes: dict[str, ProgrammeBudget]

    @model_validator(mode="after")
    def _total_within_reach(self) -> BudgetCatalogue:
        for pid, budget in self.programmes.items():
            if budget.total is not None and budget.total <= 0:
                raise ValueError(f"{pid}: the total must be positive")
        return self


class BudgetFileError(ValueError):
    """budgets.yaml does not validate: the service does not start."""


BUDGET_FILE = DataFile("budget file", BudgetFileError, "programmes")


def load_budgets(path: str | Path | None = None) -> BudgetCatalogue:
    """Read and validate the budget file (travel's packaged ``budgets.yaml`` unless a path)."""
    return BUDGET_FILE.load(BudgetCatalogue, "avrr_travel", "budgets.yaml", path)


# ------------------------------------------------------------------ events --


class BudgetEvent(DomainEvent):
    programme_id: str
    line: BudgetLine
    case_id: str
    amount: Amount
    currency: Currency


class PreDepartureAssistanceRecorded(BudgetEvent):
    """Assistance given to one person before departure, charged to the programme's line."""

    event_type = "avrr.travel.PreDepartureAssistanceRecorded"

    person_id: str
    kind: AssistanceKind
    quantity: int = Field(ge=1)
    recorded_by: str
    recorded_at: datetime


class TravelCostCharged(BudgetEvent):
    """A ticket's or an escort's cost, charged to the programme's travel line."""

    event_type = "avrr.travel.TravelCostCharged"

    cost: TravelCost
    charged_at: datetime


BUDGET_EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), DomainEvent)


class BudgetRuleViolation(DomainRuleViolation):
    """A charge the programme's budget does not allow (422)."""


# --------------------------------------------------------------- aggregate --


class Budget(Aggregate):
    """One programme's pre-departure spending; its id is the programme id."""

    stream_type = "budget"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.spent: dict[str, Decimal] = defaultdict(Decimal)  # by line
        self.by_person: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # (line, person)

    @property
    def subject(self) -> str:
        return f"programme:{self.id}"

    @property
    def total(self) -> Decimal:
        return sum(self.spent.values(), Decimal(0))

    def when(self, event: DomainEvent) -> None:
        match event:
            case PreDepartureAssistanceRecorded():
                self.spent[event.line] += event.amount
                self.by_person[(event.line, event.person_id)] += event.amount
            case TravelCostCharged():
                self.spent[event.line] += event.amount

    def record_assistance(
        self,
        rules: ProgrammeBudget,
        case_id: str,
        person_id: str,
        kind: AssistanceKind,
        quantity: int,
        amount: Decimal,
        currency: str,
        by: str,
        at: datetime,
    ) -> None:
        """Charge assistance given to ``person_id``; refused beyond a cap or in another currency."""
        line = LINE_OF[kind]
        self._check(rules, line, amount, currency)
        cap = rules.lines[line].per_person
        had = self.by_person[(line, person_id)]
        if cap is not None and had + amount > cap:
            raise BudgetRuleViolation(
                wording=worded(
                    N_(
                        "%(amount)s %(currency)s exceeds the %(line)s line's cap per person: "
                        "%(left)s of %(cap)s %(currency)s left for this person"
                    ),
                    amount=amount,
                    currency=currency,
                    line=line,
                    left=cap - had,
                    cap=cap,
                )
            )
        self.record(
            PreDepartureAssistanceRecorded(
                programme_id=self.id,
                line=line,
                case_id=case_id,
                amount=amount,
                currency=currency,
                person_id=person_id,
                kind=kind,
                quantity=quantity,
                recorded_by=by,
                recorded_at=at,
            )
        )

    def charge_travel(
        self,
        rules: ProgrammeBudget,
        case_id: str,
        cost: TravelCost,
        amount: Decimal,
        currency: str,
        at: datetime,
    ) -> None:
        """Charge a ticket's or an escort's cost to the travel line."""
        line = LINE_OF[cost]
        self._check(rules, line, amount, currency)
        self.record(
            TravelCostCharged(
                programme_id=self.id,
                line=line,
                case_id=case_id,
                amount=amount,
                currency=currency,
                cost=cost,
                charged_at=at,
            )
        )

    def _check(self, rules: ProgrammeBudget, line: BudgetLine, amount: Decimal, cur: str) -> None:
        if cur != rules.currency:
            raise BudgetRuleViolation(
                wording=worded(
                    N_(
                        "the programme's budget is in %(budget_currency)s, not %(currency)s: "
                        "record the amount in the budget's currency"
                    ),
                    budget_currency=rules.currency,
                    currency=cur,
                )
            )
        rule = rules.lines.get(line)
        if rule is None:
            raise BudgetRuleViolation(
                wording=worded(N_("the programme has no %(line)s budget line"), line=line)
            )
        left = rule.amount - self.spent[line]
        if amount > left:
            raise BudgetRuleViolation(
                wording=worded(
                    N_(
                        "%(amount)s %(currency)s exceeds the %(line)s line: "
                        "%(left)s of %(cap)s %(currency)s left"
                    ),
                    amount=amount,
                    currency=cur,
                    line=line,
                    left=left,
                    cap=rule.amount,
                )
            )
        if rules.total is not None and self.total + amount > rules.total:
            raise BudgetRuleViolation(
                wording=worded(
                    N_(
                        "%(amount)s %(currency)s exceeds the programme's pre-departure budget: "
                        "%(left)s of %(cap)s %(currency)s left"
                    ),
                    amount=amount,
                    currency=cur,
                    left=rules.total - self.total,
                    cap=rules.total,
                )
            )

    def report(self, rules: ProgrammeBudget) -> dict[str, object]:
        """Consumption per line (no personal data): budgeted, spent, left, in the currency.

        Amounts are strings with their cents, as requests and events carry money."""
        lines = [
            {
                "line": line,
                "budgeted": str(rule.amount),
                "spent": _cents(self.spent[line]),
                "left": _cents(rule.amount - self.spent[line]),
            }
            for line, rule in rules.lines.items()
        ]
        return {
            "programme_id": self.id,
            "currency": rules.currency,
            "total": None if rules.total is None else str(rules.total),
            "spent": _cents(self.total),
            "lines": lines,
        }


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))
