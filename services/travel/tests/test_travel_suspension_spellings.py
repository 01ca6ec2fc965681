"""A suspended region holds every movement to it, however either was spelled.

A case cleared to "atlantida" and a suspension of "Atlántida" are the same
place (avrr_events.places): the movement is held and its departure refused.
Travel once compared the texts exactly and let such a departure through.

The regions are those of the seed programmes' destinations: Mesoamerica AVR
(Honduras, El Salvador, Guatemala), ARVoRe (Brazil, and Cabo Verde and Angola
among the non-EU countries it returns people to) and the Americas regional
programme (the Dominican Republic, Mexico). Each movement below is cleared,
made ready and ticketed, then each country's region is suspended spelled in
yet another way, through travel's real consumer on PostgreSQL and Kafka.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from travel_fixtures import Travel, member, ticket

NOW = datetime.now(UTC).isoformat()
FLOODING = "flooding: roads cut"


@dataclass(frozen=True)
class Destination:
    programme: str
    country: str
    suspended_as: str  # how the supervisor typed the region
    cleared_as: tuple[str, ...]  # how cases to that region were typed at intake
    late_as: str  # a case cleared after the suspension
    elsewhere: str  # another region of the same country: never held


DESTINATIONS = (
    Destination(
        "mesoamerica-avr", "HN", "Atlántida", ("atlantida", " ATLANTIDA ", "HN-AT"), "at", "Cortés"
    ),
    Destination(
        "mesoamerica-avr", "SV", "la union", ("La Unión", "LA  UNIÓN", "SV-UN"), "UN", "La Paz"
    ),
    Destination("mesoamerica-avr", "GT", "GT-14", ("Quiché", "quiche", "QUICHÉ"), "14", "Petén"),
    Destination(
        "arvore", "BR", " SÃO  PAULO", ("São Paulo", "sao paulo", "BR-SP"), "sp", "Minas Gerais"
    ),
    Destination(
        "arvore", "CV", "sv", ("São Vicente", "sao vicente", "CV-SV"), "SAO VICENTE", "Sal"
    ),
    Destination("arvore", "AO", "Huila", ("Huíla", "HUÍLA", "ao-hui"), "HUI", "Luanda"),
    Destination(
        "americas-regional-avr",
        "DO",
        "dajabon",
        ("Dajabón", "DAJABÓN", "DO-05"),
        "05",
        "Santo Domingo",
    ),
    # A region no ISO 3166-2 code names: its canonical text is compared.
    Destination(
        "americas-regional-avr",
        "MX",
        "Soconusco",
        ("soconusco", "SOCONÚSCO", "  Soconusco "),
        "SOCONUSCO",
        "Chiapas",
    ),
)


def case_id(d: Destination, what: str) -> str:
    return f"{d.country.lower()}-{what}"


async def ticketed(travel: Travel, case: str, country: str, region: str) -> None:
    await travel.clear(
        case, [member(f"{case}-p", 30)], destination_country=country, destination_region=region
    )
    await travel.wait_for(case, status="preparing")
    await travel.make_ready(case, [f"{case}-p"])
    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 200, r.text


async def test_a_suspension_holds_every_movement_to_its_region_however_spelled(
    travel: Travel,
) -> None:
    matching = {
        case_id(d, f"match{i}"): d for d in DESTINATIONS for i, _ in enumerate(d.cleared_as)
    }
    others = {case_id(d, "elsewhere"): d for d in DESTINATIONS}
    regions = {case_id(d, f"match{i}"): r for d in DESTINATIONS for i, r in enumerate(d.cleared_as)}
    regions |= {case_id(d, "elsewhere"): d.elsewhere for d in DESTINATIONS}
    countries = {c: d.country for c, d in (matching | others).items()}

    limit = asyncio.Semaphore(4)

    async def prepare(case: str) -> None:
        async with limit:
            await ticketed(travel, case, countries[case], regions[case])

    await asyncio.gather(*(prepare(c) for c in (*matching, *others)))

    suspensions = [
        await travel.suspend_destination(d.country, d.suspended_as, FLOODING) for d in DESTINATIONS
    ]
    late = [
        await travel.clear(
            case_id(d, "late"),
            [member(f"{case_id(d, 'late')}-p", 30)],
            destination_country=d.country,
            destination_region=d.late_as,
        )
        for d in DESTINATIONS
    ]
    await travel.handled(*suspensions, *late)

    # Every movement to a suspended region is held and may not depart...
    for case, d in matching.items():
        held = await travel.wait_for(case, held=True)
        assert held["hold_reason"] == (
            f"destination {d.country}/{' '.join(d.suspended_as.split())} suspended: "
            "flooding: roads cut"
        ), held
        r = await travel.post(f"/movements/{case}/departure", {})
        assert r.status_code == 422, (case, r.text)
        assert "held" in r.json()["detail"]
    # ...including one cleared after the suspension, held from the start...
    for d in DESTINATIONS:
        view = await travel.wait_for(case_id(d, "late"), status="preparing", held=True)
        assert view["version"] == 2, view  # MovementOpened, MovementHeld
    # ...and every other movement (another region of the same country) travels.
    for case in others:
        r = await travel.post(f"/movements/{case}/departure", {})
        assert r.status_code == 200, (case, r.text)
        view = await travel.wait_for(case, status="departed")
        assert view["held"] is False, view

    # Reopening (as the suspension was named) releases them all.
    reopenings = [await travel.reopen_destination(d.country, d.suspended_as) for d in DESTINATIONS]
    await travel.handled(*reopenings)
    for case in (*matching, *(case_id(d, "late") for d in DESTINATIONS)):
        await travel.wait_for(case, held=False)
    first = next(iter(matching))
    r = await travel.post(f"/movements/{first}/departure", {})
    assert r.status_code == 200, r.text


async def test_a_country_suspension_covers_regions_and_a_regional_one_only_its_own(
    travel: Travel,
) -> None:
    """Spelled as a code, a region's suspension leaves the rest of the country free;
    a suspension of the country holds every region, named or not."""
    await ticketed(travel, "hn-cortes", "HN", "cortes")
    await ticketed(travel, "hn-sps", "HN", "San Pedro Sula")
    await ticketed(travel, "hn-none", "HN", "  ")
    await travel.handled(await travel.suspend_destination("HN", "HN-CR", FLOODING))
    await travel.wait_for("hn-cortes", held=True)
    for case in ("hn-sps", "hn-none"):
        assert (await travel.movement(case) or {})["held"] is False
    country = await travel.publish(
        "eligibility",
        "avrr.eligibility.DestinationSuspended",
        "destination:HN",
        {
            "destination_country": "HN",
            "reason": "general strike",
            "suspended_by": "supervisor-1",
            "suspended_at": NOW,
        },
    )
    await travel.handled(country)
    for case in ("hn-sps", "hn-none"):
        await travel.wait_for(case, held=True)
    # Reopening the region does not lift the country's suspension.
    await travel.handled(await travel.reopen_destination("HN", "HN-CR"))
    r = await travel.post("/movements/hn-cortes/departure", {})
    assert r.status_code == 422 and "held" in r.json()["detail"], r.text
    view = await travel.movement("hn-cortes")
    assert view is not None and view["held"] is True
