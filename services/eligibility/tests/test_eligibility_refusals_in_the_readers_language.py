"""Eligibility's refusals answer in the reader's language (issue 19: Accept-Language).

A caseworker or a supervisor reads a refusal in Spanish or Portuguese when
their client asks for it; the facts (case and programme ids, country codes,
status codes) stay as they are, and without the header the detail is the
English one it always was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from eligibility_fixtures import SUPERVISOR, Eligibility

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


@pytest.mark.parametrize(
    ("refusal", "status", "english", "spanish", "portuguese"),
    REFUSALS,
    ids=[refusal.__name__ for refusal, *_ in REFUSALS],
)
async def test_a_refusal_is_worded_in_the_language_the_reader_asks_for(
    eligibility: Eligibility,
    refusal: Refusal,
    status: int,
    english: str,
    spanish: str,
    portuguese: str,
) -> None:
    in_portuguese = await refusal(eligibility, {"Accept-Language": "pt-PT, pt;q=0.9, en;q=0.5"})
    assert in_portuguese.status_code == status, in_portuguese.text
    assert in_portuguese.headers["content-type"] == "application/problem+json"
    assert in_portuguese.json()["detail"].startswith(portuguese), in_portuguese.text
    assert in_portuguese.headers["content-language"] == "pt"
    assert "accept-language" in in_portuguese.headers["vary"].lower()

    in_spanish = await refusal(eligibility, {"Accept-Language": "es"})
    assert in_spanish.status_code == status, in_spanish.text
    assert in_spanish.json()["detail"].startswith(spanish), in_spanish.text
    assert in_spanish.headers["content-language"] == "es"

    as_always = await refusal(eligibility, {})
    assert as_always.status_code == status, as_always.text
    assert as_always.json()["detail"].startswith(english), as_always.text
    assert as_always.json()["type"] == in_spanish.json()["type"] == in_portuguese.json()["type"]
