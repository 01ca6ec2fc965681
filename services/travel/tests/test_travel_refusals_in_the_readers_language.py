"""Travel's refusals answer in the reader's language (issue 19: Accept-Language).

A travel officer or a doctor working with a household reads a refusal in
Spanish or Portuguese when their client asks for it; the facts (case, person
and group ids) stay as they are, the fields a client fixes stay named, and
without the header the detail is the English one it always was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import httpx
from travel_fixtures import MEDIC, OFFICER, Travel, ticket

from avrr_events.testing import answered_in_the_readers_language, each_refusal

Refusal = Callable[[Travel, dict[str, str]], Awaitable[httpx.Response]]


async def health_details_without_consent(travel: Travel, headers: dict[str, str]) -> httpx.Response:
    """Health details recorded while no consent to medical data stands (422, the field named)."""
    if await travel.movement("case-lang-1") is None:
        await travel.opened("case-lang-1")
    body = {"person_id": "p-mother", "outcome": "fit", "health_details": "asthma, inhaler"}
    return await travel.post("/movements/case-lang-1/fitness", body, {**MEDIC, **headers})


async def unfit_without_a_date(travel: Travel, headers: dict[str, str]) -> httpx.Response:
    """An unfit outcome that does not say until when (422, the movement's status given)."""
    if await travel.movement("case-lang-2") is None:
        await travel.opened("case-lang-2")
    body = {"person_id": "p-mother", "outcome": "unfit"}
    return await travel.post("/movements/case-lang-2/fitness", body, {**MEDIC, **headers})


async def a_ticket_before_the_household_is_ready(
    travel: Travel, headers: dict[str, str]
) -> httpx.Response:
    """A ticket while no traveller has a document or a fitness outcome (422, what is missing
    listed in the reader's language; the ``missing`` extension as always)."""
    if await travel.movement("case-lang-3") is None:
        await travel.opened("case-lang-3")
    return await travel.post("/movements/case-lang-3/ticket", ticket(), {**OFFICER, **headers})


async def a_group_planned_in_the_past(travel: Travel, headers: dict[str, str]) -> httpx.Response:
    """A group whose departure date has passed (422, the field named)."""
    body = {
        "office": "GT-GUA",
        "mode": "bus",
        "departure_date": str(date.today() - timedelta(days=1)),
        "route": ["Guatemala City", "San Pedro Sula"],
        "capacity": 40,
        "carrier": "Transportes del Norte",
        "escorts": [],
    }
    return await travel.post("/groups", body, {**OFFICER, **headers})


async def an_unknown_group(travel: Travel, headers: dict[str, str]) -> httpx.Response:
    """A group that was never planned (404)."""
    return await travel.http.get("/groups/group-nope", headers={**OFFICER, **headers})


async def a_manifest_of_every_office(travel: Travel, headers: dict[str, str]) -> httpx.Response:
    """The day's manifest asked without an office by an officer scoped to one (403)."""
    return await travel.http.get(f"/manifests/{date.today()}", headers={**OFFICER, **headers})


# (refusal, status, field, English, Spanish, Portuguese)
REFUSALS: list[tuple[Refusal, int, str | None, str, str, str]] = [
    (
        health_details_without_consent,
        422,
        "health_details",
        "no consent of p-mother to the processing of medical data stands (never given, or "
        "withdrawn): record the outcome without health details",
        "no consta un consentimiento vigente de p-mother al tratamiento de datos médicos (nunca "
        "se dio o se retiró): registre el resultado sin datos de salud",
        "não existe consentimento válido de p-mother para o tratamento de dados médicos (nunca "
        "foi dado ou foi retirado): registe o resultado sem dados de saúde",
    ),
    (
        unfit_without_a_date,
        422,
        None,
        "an unfit outcome needs the date it holds until",
        "un resultado de no apto debe indicar hasta qué fecha es válido",
        "um resultado de inapto tem de indicar até que data é válido",
    ),
    (
        a_ticket_before_the_household_is_ready,
        422,
        None,
        "the ticket cannot be issued: p-mother: travel_document (no travel document obtained); "
        "p-mother: fitness_to_travel (no fitness-to-travel outcome recorded)",
        "no se puede emitir el billete: p-mother: travel_document (no se ha obtenido ningún "
        "documento de viaje); p-mother: fitness_to_travel (no consta ningún resultado",
        "não é possível emitir o bilhete: p-mother: travel_document (não foi obtido nenhum "
        "documento de viagem); p-mother: fitness_to_travel (não está registado",
    ),
    (
        a_group_planned_in_the_past,
        422,
        "departure_date",
        "the departure date is in the past",
        "la fecha de salida ya ha pasado",
        "a data de partida já passou",
    ),
    (
        an_unknown_group,
        404,
        None,
        "no group group-nope",
        "no existe el grupo group-nope",
        "não existe o grupo group-nope",
    ),
    (
        a_manifest_of_every_office,
        403,
        None,
        "name the office: you are scoped to offices",
        "indique la oficina: su acceso se limita a determinadas oficinas",
        "indique o escritório: o seu acesso está limitado a determinados escritórios",
    ),
]


@each_refusal(REFUSALS)
async def test_a_refusal_is_worded_in_the_language_the_reader_asks_for(
    travel: Travel, refusal: Refusal, answer: tuple[int, str | None, str, str, str]
) -> None:
    status, field, english, spanish, portuguese = answer
    answers = await answered_in_the_readers_language(
        lambda headers: refusal(travel, headers), status, english, spanish, portuguese
    )
    assert [a.get("field") for a in answers] == [field] * 3
    assert answers[0].get("missing") == answers[1].get("missing") == answers[2].get("missing")
