"""Issue 19: the arrival carries the household's languages on to reintegration.

Reintegration opens its case from travel's ArrivalConfirmed and never hears
from intake about the person's languages; the arrival passes on those travel
was given with the clearance (MovementOpened.languages), so the plan summary
is in the returnee's language too. A group's arrival confirms each movement's
own arrival, with its own household's languages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from travel_fixtures import NOW, TODAY, booking, cleared, ready

from avrr_travel.group import Group, GroupPlan
from avrr_travel.movement import ArrivalConfirmed, Movement


def ticketed(case_id: str, languages: list[str] | None = None) -> Movement:
    """A movement opened with ``languages`` (none: a clearance from before they were sent),
    every traveller ready, ticketed."""
    extra: dict[str, Any] = {} if languages is None else {"languages": languages}
    movement = Movement(case_id)
    assert movement.open(cleared(case_id, **extra), NOW)
    ready(movement).issue_ticket(booking(), TODAY, NOW)
    return movement


def arrival(movement: Movement) -> ArrivalConfirmed:
    [event] = [e for e in movement.pending if isinstance(e, ArrivalConfirmed)]
    return event


def test_an_arrival_carries_the_households_languages() -> None:
    movement = ticketed("case-lang", ["pt", "es"])
    movement.confirm_departure(NOW)
    movement.confirm_arrival(NOW + timedelta(hours=9), "receiving_office", "HN-SPS")
    assert arrival(movement).languages == ["pt", "es"]


def test_an_arrival_without_recorded_languages_carries_none() -> None:
    movement = ticketed("case-no-lang")
    movement.confirm_departure(NOW)
    movement.confirm_arrival(NOW + timedelta(hours=9), "partner", None)
    assert arrival(movement).languages == []


def test_a_groups_arrival_carries_each_households_languages() -> None:
    households = {"case-g-pt": ["pt"], "case-g-fr": ["fr", "ht"], "case-g-none": None}
    movements = [ticketed(case, languages) for case, languages in households.items()]
    group = Group("group-lang")
    group.plan(
        GroupPlan(
            office="GT-GUA",
            mode="bus",
            departure_date=TODAY,
            route=["Guatemala City", "San Pedro Sula"],
            capacity=10,
            carrier="Transportes del Norte",
        ),
        NOW,
    )
    for m in movements:
        group.assign(m, NOW)
    group.depart(movements, NOW)
    group.arrive(movements, NOW + timedelta(hours=9))
    assert {m.id: arrival(m).languages for m in movements} == {
        "case-g-pt": ["pt"],
        "case-g-fr": ["fr", "ht"],
        "case-g-none": [],
    }
