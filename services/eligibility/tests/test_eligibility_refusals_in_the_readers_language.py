"""Eligibility's refusals answer in the reader's language (issue 19: Accept-Language).

A caseworker or a supervisor reads a refusal in Spanish or Portuguese when
their client asks for it; the facts (case and programme ids, country codes,
status codes) stay as they are, and without the header the detail is the
English one it always was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from eligibility_fixtures import SUPERVISOR, Eligibility

from avrr_events.testing import answered_in_the_readers_language, each_refusal

Refusal = Callable[[Eligibility, dict[str, str]], Awaitable[httpx.Response]]


async def an_unknown_programme(eligibility: Eligibility, headers: dict[str, str]) -> httpx.Response:
    """A programme the catalogue does not hold (404)."""
    return await eligibility.http.get("/programmes/nope", headers=headers)


async def an_unknown_assessment(
    eligibility: Eligibility, headers: dict[str, str]
) -> httpx.Response:
    """A case with no assessment (404)."""
    return await eligibility.http.get("/assessments/nobody", headers=headers)


async def a_queue_of_an_unknown_status(
    eligibility: Eligibility, headers: dict[str, str]
) -> httpx.Response:
    """The queue asked for a status that does not exist (422)."""
    query = {"office": "GT-GUA", "status": "bogus"}
    return await eligibility.http.get("/assessments", params=query, headers=headers)


async def reopening_an_open_destination(
    eligibility: Eligibility, headers: dict[str, str]
) -> httpx.Response:
    """Returns reopened to a country where they were never suspended (409)."""
    body = {"destination_country": "NI", "reason": "nothing to reopen"}
    return await eligibility.http.post(
        "/destinations/reopenings", json=body, headers={**SUPERVISOR, **headers}
    )


# (refusal, status, English, Spanish, Portuguese): the detail starts with them.
REFUSALS: list[tuple[Refusal, int, str, str, str]] = [
    (
        an_unknown_programme,
        404,
        "no programme nope",
        "no existe el programa nope",
        "não existe o programa nope",
    ),
    (
        an_unknown_assessment,
        404,
        "no assessment for case nobody",
        "no hay evaluación para el caso nobody",
        "não há avaliação para o processo nobody",
    ),
    (
        a_queue_of_an_unknown_status,
        422,
        "unknown status bogus; use ",
        "estado desconocido bogus; use ",
        "estado desconhecido bogus; use ",
    ),
    (
        reopening_an_open_destination,
        409,
        "returns to NI are not suspended",
        "los retornos a NI no están suspendidos",
        "os retornos para NI não estão suspensos",
    ),
]


@each_refusal(REFUSALS)
async def test_a_refusal_is_worded_in_the_language_the_reader_asks_for(
    eligibility: Eligibility, refusal: Refusal, answer: tuple[int, str, str, str]
) -> None:
    await answered_in_the_readers_language(lambda headers: refusal(eligibility, headers), *answer)
