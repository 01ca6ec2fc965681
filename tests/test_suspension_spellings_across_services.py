"""Eligibility and travel agree on which cases a suspension of a region stops.

The bug: a case cleared to region "atlantida"; a supervisor suspends
"Atlántida" (HN). Eligibility reported the case affected
(destination_suspended, cleared_cases_held=1) while travel left the movement
unheld and accepted its departure: eligibility ignored accents and case,
travel compared the texts exactly. Both now key places with
``avrr_events.places`` and nothing else. Run black-box against four separate
processes (Kafka + PostgreSQL) and the embedded default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from journey_steps import (
    CASEWORKER,
    TRAVEL_OFFICER,
    Case,
    Platform,
    clear,
    open_case,
    status,
    ticket,
)

import avrr_eligibility.destination as eligibility_destination
import avrr_reintegration.directory as reintegration_directory
import avrr_travel.destinations as travel_destinations
from avrr_events import places

SUPERVISOR = {"X-AVRR-User": "supervisor-1", "X-AVRR-Roles": "supervisor", "X-AVRR-Offices": "*"}

# Regions of the seed programmes' destination countries, each as typed at intake
# and as typed by a supervisor suspending returns there.
SPELLINGS = [
    ("HN", "atlantida", "Atlántida"),
    ("HN", "HN-AT", " ATLÁNTIDA "),
    ("SV", "La Unión", "SV-UN"),
    ("GT", "quiche", "Quiché"),
    ("BR", "São Paulo", "sao  paulo"),
    ("CV", "São Vicente", "CV-SV"),
    ("AO", "HUÍLA", "hui"),
    ("DO", "Dajabón", "DO-05"),
    ("MX", "Soconusco", "SOCONÚSCO"),  # no ISO 3166-2 code: canonical text
]


def test_every_service_keys_places_with_the_one_rule() -> None:
    """Eligibility's streams and travel's (and reintegration's) comparisons use the same
    function, so a region both services see can never be two places to one of them."""
    for module in (eligibility_destination, travel_destinations, reintegration_directory):
        assert vars(module)["place"] is places.place, module.__name__
    for country, cleared_as, suspended_as in SPELLINGS:
        stream = eligibility_destination.place_streams(country, suspended_as)[0]
        assert stream == places.place(country, cleared_as).key, (country, cleared_as)
    # Neither keeps a private normaliser of its own any more.
    for module, name in (
        (eligibility_destination, "region_key"),
        (eligibility_destination, "destination_key"),
        (travel_destinations, "destination_key"),
    ):
        assert not hasattr(module, name), (module.__name__, name)


async def after_hop(
    p: Platform, service: str, case: Case, check: Callable[[dict[str, Any]], bool], hop: str
) -> dict[str, Any]:
    """``service``'s view of ``case`` once ``check`` holds: reached by another service's event."""
    return await p.case_shows(service, case.case_id, check, hop=hop, since=0.0, cross_service=True)


async def request_return_to(p: Platform, case: Case, region: str) -> None:
    body = {"destination_country": "HN", "destination_region": region}
    await p.post("intake", f"/cases/{case.case_id}/return-request", body, CASEWORKER, expect=201)
    await after_hop(
        p, "eligibility", case, status("eligible"), "intake -> eligibility: return requested"
    )


async def suspension_stops_the_departure(p: Platform) -> None:
    """The issue's steps: cleared to "atlantida", "Atlántida" suspended."""
    held_case = await open_case(p, n=11)
    await request_return_to(p, held_case, "atlantida")
    await clear(p, held_case)
    await ticket(p, held_case)
    free_case = await open_case(p, n=12)
    await request_return_to(p, free_case, "Cortés")
    await clear(p, free_case)
    await ticket(p, free_case)

    suspension = {
        "destination_country": "HN",
        "destination_region": "Atlántida",
        "reason": "hurricane: roads to La Ceiba cut",
    }
    await p.post("eligibility", "/destinations/suspensions", suspension, SUPERVISOR, expect=201)

    def holds_one(doc: dict[str, Any]) -> bool:
        return [s["cleared_cases_held"] for s in doc.get("items", [])] == [1]

    listed = await p.until(
        "eligibility",
        "/destinations/suspensions",
        holds_one,
        CASEWORKER,
        hop="eligibility: suspension",
        since=0.0,
    )
    assert listed["items"][0]["destination_region_code"] == "HN-AT"
    await p.case_shows(
        "eligibility",
        held_case.case_id,
        lambda d: d.get("destination_suspended") is True,
        hop="eligibility: case flagged",
        since=0.0,
    )
    held = await after_hop(
        p, "travel", held_case, lambda d: d.get("held") is True, "eligibility -> travel: suspension"
    )
    assert "Atlántida" in held["hold_reason"], held
    refused = await p.refused(
        "travel", f"/movements/{held_case.case_id}/departure", {}, TRAVEL_OFFICER
    )
    assert refused.status_code == 422 and "held" in refused.json()["detail"], refused.text

    # The case to another region of Honduras is not held and departs.
    free = await p.get("travel", f"/movements/{free_case.case_id}", TRAVEL_OFFICER)
    assert free.json()["held"] is False, free.text
    await p.post(
        "travel", f"/movements/{free_case.case_id}/departure", {}, TRAVEL_OFFICER, expect=200
    )

    # Reopened in yet another spelling, the held movement is released.
    reopening = {"destination_country": "HN", "destination_region": "HN-AT", "reason": "roads open"}
    await p.post("eligibility", "/destinations/reopenings", reopening, SUPERVISOR, expect=200)
    await after_hop(
        p, "travel", held_case, lambda d: d.get("held") is False, "eligibility -> travel: reopening"
    )


async def test_a_suspension_in_another_spelling_holds_the_movement(
    platform_on_each_stack: Platform,
) -> None:
    await suspension_stops_the_departure(platform_on_each_stack)
