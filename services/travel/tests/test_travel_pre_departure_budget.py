"""Pre-departure assistance charged to the programme's budget lines, within their caps.

The rules without infrastructure (caps per person, per line and per programme, currency),
then on real PostgreSQL and Kafka: recording on a movement, the report per line without
personal data, two charges for the last of a cap at the same moment (one wins, the
other 409 or 422, never over the cap), and charges for different households at the same
moment (all recorded: the loser of the budget's race decides again on the new totals).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from travel_fixtures import CASEWORKER, OFFICER, Travel, member, ticket

from avrr_travel.budgets import (
    AssistanceKind,
    Budget,
    BudgetFileError,
    BudgetRuleViolation,
    PreDepartureAssistanceRecorded,
    ProgrammeBudget,
    load_budgets,
)
from avrr_travel.observed import HouseholdMember

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
RULES = ProgrammeBudget.model_validate(
    {
        "currency": "USD",
        "total": "500.00",
        "lines": {
            "lodging": {"amount": "300.00", "per_person": "100.00"},
            "kits": {"amount": "400.00"},
            "travel": {"amount": "400.00"},
        },
    }
)


def give(
    budget: Budget, person: str, kind: AssistanceKind, amount: str, currency: str = "USD"
) -> None:
    budget.record_assistance(
        RULES, "case-1", person, kind, 1, Decimal(amount), currency, "officer-1", NOW
    )


def test_a_person_gets_no_more_than_the_lines_cap_per_person() -> None:
    budget = Budget("p")
    give(budget, "p-1", "lodging_night", "60.00")
    with pytest.raises(BudgetRuleViolation, match=r"cap per person: 40.00 of 100.00 USD left"):
        give(budget, "p-1", "lodging_night", "60.00")
    give(budget, "p-2", "lodging_night", "60.00")  # another person has their own cap
    assert budget.spent["lodging"] == Decimal("120.00")


def test_the_line_and_the_programme_total_hold() -> None:
    budget = Budget("p")
    for person in ("p-1", "p-2", "p-3"):
        give(budget, person, "lodging_night", "100.00")
    with pytest.raises(BudgetRuleViolation, match=r"lodging line: 0.00 of 300.00 USD left"):
        give(budget, "p-4", "lodging_night", "10.00")
    give(budget, "p-4", "food_kit", "150.00")
    with pytest.raises(BudgetRuleViolation, match=r"pre-departure budget: 50.00 of 500.00"):
        budget.charge_travel(RULES, "case-1", "ticket", Decimal("60.00"), "USD", NOW)


def test_a_charge_in_another_currency_or_on_a_line_the_programme_lacks_is_refused() -> None:
    budget = Budget("p")
    with pytest.raises(BudgetRuleViolation, match="in USD, not EUR"):
        give(budget, "p-1", "hygiene_kit", "10.00", "EUR")
    with pytest.raises(BudgetRuleViolation, match="no medical budget line"):
        give(budget, "p-1", "medical_examination", "10.00")
    assert not budget.pending


def test_the_totals_are_rebuilt_from_the_events() -> None:
    budget = Budget("p")
    give(budget, "p-1", "lodging_night", "60.00")
    give(budget, "p-1", "hygiene_kit", "25.00")
    again = Budget("p")
    for event in budget.pending:
        assert isinstance(event, PreDepartureAssistanceRecorded)
        again.when(event)
    assert again.report(RULES) == budget.report(RULES)
    assert again.by_person[("lodging", "p-1")] == Decimal("60.00")


def test_the_packaged_budgets_name_every_programme_line_in_one_currency() -> None:
    catalogue = load_budgets()
    assert {"mesoamerica-avr", "americas-regional-avr", "arvore"} <= set(catalogue.programmes)
    assert catalogue.programmes["arvore"].currency == "EUR"


def test_a_malformed_budget_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    wrong = tmp_path / "budgets.yaml"
    wrong.write_text("programmes:\n  p:\n    currency: usd\n    lines: {lodging: {amount: 5}}\n")
    with pytest.raises(BudgetFileError, match=r"programmes\.p\.currency"):
        load_budgets(wrong)


# --------------------------------------------------- real infrastructure --


def assistance(person_id: str, amount: str, kind: str = "lodging_night") -> dict[str, object]:
    return {
        "person_id": person_id,
        "kind": kind,
        "quantity": 1,
        "amount": amount,
        "currency": "USD",
    }


PROGRAMME = "mesoamerica-avr"  # a programme of the packaged budgets.yaml


async def opened_in(travel: Travel, case_id: str, household: list[HouseholdMember]) -> None:
    """Eligibility clears the case for PROGRAMME; the movement opens."""
    await travel.clear(case_id, household, programme_id=PROGRAMME)
    await travel.wait_for(case_id, status="preparing")


async def report(travel: Travel, programme_id: str) -> dict[str, object]:
    r = await travel.http.get(f"/budgets/{programme_id}", headers=OFFICER)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_assistance_is_charged_to_the_programmes_line_and_reported(travel: Travel) -> None:
    case_id = f"pda-{uuid.uuid4()}"
    mother, son = f"{case_id}-mother", f"{case_id}-son"
    await opened_in(travel, case_id, [member(mother, 31), member(son, 6, "child")])
    spent_before = (await report(travel, PROGRAMME))["spent"]

    r = await travel.post(
        f"/movements/{case_id}/pre-departure-assistance", assistance(son, "40.00")
    )
    assert r.status_code == 200, r.text
    stranger = await travel.post(
        f"/movements/{case_id}/pre-departure-assistance", assistance("p-nobody", "1.00")
    )
    assert stranger.status_code == 422, stranger.text
    shown = await report(travel, PROGRAMME)
    assert Decimal(str(shown["spent"])) == Decimal(str(spent_before)) + Decimal("40.00")
    assert son not in str(shown) and mother not in str(shown)
    unknown = await travel.http.get("/budgets/no-such-programme", headers=OFFICER)
    assert unknown.status_code == 404, unknown.text
    refused = await travel.post(
        f"/movements/{case_id}/pre-departure-assistance", assistance(son, "40.00"), CASEWORKER
    )
    assert refused.status_code == 403, refused.text


async def test_two_charges_for_the_last_of_a_cap_one_wins(travel: Travel) -> None:
    case_id = f"pdr-{uuid.uuid4()}"
    child = f"{case_id}-child"
    await opened_in(travel, case_id, [member(f"{case_id}-father", 40), member(child, 9, "child")])
    url = f"/movements/{case_id}/pre-departure-assistance"
    # The lodging line's cap per person (150.00 USD) leaves room for one of these, not both.
    first, second = await asyncio.gather(
        travel.post(url, assistance(child, "100.00")), travel.post(url, assistance(child, "100.00"))
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses in ([200, 409], [200, 422]), [first.text, second.text]
    stored = [
        e
        for e in await travel.runtime.store.load(f"budget-{PROGRAMME}")
        if e.envelope.type == "avrr.travel.PreDepartureAssistanceRecorded"
        and e.envelope.data["person_id"] == child
    ]
    assert len(stored) == 1


async def ready_to_ticket(travel: Travel, what: str) -> tuple[str, Decimal]:
    """A one-person movement of PROGRAMME ready for its ticket, and what the budget spent so far."""
    case_id = f"{what}-{uuid.uuid4()}"
    await opened_in(travel, case_id, [member(f"{case_id}-p", 38)])
    await travel.make_ready(case_id, [f"{case_id}-p"])
    return case_id, await spent(travel)


async def spent(travel: Travel) -> Decimal:
    return Decimal(str((await report(travel, PROGRAMME))["spent"]))


async def test_the_tickets_cost_is_charged_to_the_travel_line(travel: Travel) -> None:
    case_id, before = await ready_to_ticket(travel, "pdt")
    in_euros = ticket(cost={"amount": "90.00", "currency": "EUR"})
    refused = await travel.post(f"/movements/{case_id}/ticket", in_euros)
    assert refused.status_code == 422, refused.text
    assert "not EUR" in refused.json()["detail"]
    issued = await travel.post(
        f"/movements/{case_id}/ticket", ticket(cost={"amount": "96.00", "currency": "USD"})
    )
    assert issued.status_code == 200, issued.text
    assert await spent(travel) - before == Decimal("96.00")


async def test_the_escorts_costs_are_charged_with_the_ticket(travel: Travel) -> None:
    case_id, before = await ready_to_ticket(travel, "pde")
    escorted = ticket(cost={"amount": "0", "currency": "USD"})  # a zero cost is no charge
    escorted["escorts"] = [{"kind": "operational", "cost": {"amount": "150.00", "currency": "USD"}}]
    issued = await travel.post(f"/movements/{case_id}/ticket", escorted)
    assert issued.status_code == 200, issued.text
    assert await spent(travel) - before == Decimal("150.00")


async def test_households_ticketed_at_the_same_moment_are_all_charged(travel: Travel) -> None:
    """Tickets of different households of one programme race only on its budget stream: each
    is charged on the totals the others left, and none answers 409 for another's case."""
    ready = [await ready_to_ticket(travel, f"pdc{i}") for i in range(4)]
    before = await spent(travel)
    issued = await asyncio.gather(
        *(
            travel.post(
                f"/movements/{case_id}/ticket", ticket(cost={"amount": "10.00", "currency": "USD"})
            )
            for case_id, _ in ready
        )
    )
    assert [r.status_code for r in issued] == [200] * 4, [r.text for r in issued]
    assert await spent(travel) - before == Decimal("40.00")


async def test_assistance_to_different_households_at_the_same_moment_is_all_recorded(
    travel: Travel,
) -> None:
    cases = [f"pda{i}-{uuid.uuid4()}" for i in range(4)]
    for case_id in cases:
        await opened_in(travel, case_id, [member(f"{case_id}-p", 30)])
    before = await spent(travel)
    given = await asyncio.gather(
        *(
            travel.post(
                f"/movements/{case_id}/pre-departure-assistance",
                assistance(f"{case_id}-p", "5.00", "hygiene_kit"),
            )
            for case_id in cases
        )
    )
    assert [r.status_code for r in given] == [200] * 4, [r.text for r in given]
    assert await spent(travel) - before == Decimal("20.00")
