"""Intake's 422 validation answers in the reader's language (issue 19: Accept-Language).

Against real PostgreSQL and Kafka (the ``intake`` fixture). A caseworker whose
client asks in Portuguese or Spanish reads why a request was not valid in
that language: pydantic's own reasons (a missing field, a text too long, a
value not among the allowed ones), a request validator's reason and a check
the handler makes (``invalid_field``). The field, the pointer and the error
code stay as they are; without Accept-Language every reason and the detail
are the English ones they always were, byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest
from intake_fixtures import CASEWORKER, Intake, referral

from avrr_events.testing import (
    answered_in_the_readers_language,
    each_invalid,
    invalid_in_the_readers_language,
)

WITHOUT_OFFICE = {k: v for k, v in referral().items() if k != "office"}
CITY_TOO_LONG = referral(current_location={"country": "GT", "city": "x" * 101})
UNKNOWN_SOURCE = referral(source="rumour")
UNKNOWN_LANGUAGE = referral(languages=["es", "zz"])
NO_PRINCIPAL = referral(
    household=[{**person, "relationship": "child"} for person in referral()["household"]]
)

# (body, field, code, English, Spanish, Portuguese): the reason of the one error.
INVALID_REFERRALS: list[tuple[dict[str, Any], str, str, str, str, str]] = [
    (
        WITHOUT_OFFICE,
        "office",
        "missing",
        "Field required",
        "Campo obligatorio",
        "Campo obrigatório",
    ),
    (
        CITY_TOO_LONG,
        "current_location.city",
        "string_too_long",
        "String should have at most 100 characters",
        "El texto debe tener como máximo 100 carácter(es)",
        "O texto deve ter no máximo 100 caractere(s)",
    ),
    (
        UNKNOWN_LANGUAGE,
        "languages.1",
        "value_error",
        "Value error, not an ISO 639-1 or ISO 639-3 language code",
        "Valor no válido: no es un código de idioma ISO 639-1 o ISO 639-3",
        "Valor inválido: não é um código de língua ISO 639-1 ou ISO 639-3",
    ),
    (
        NO_PRINCIPAL,
        "body",
        "value_error",
        "Value error, the household needs exactly one person with relationship 'principal'",
        "Valor no válido: el hogar necesita exactamente una persona con relationship 'principal'",
        "Valor inválido: o agregado familiar precisa de exatamente uma pessoa com relationship "
        "'principal'",
    ),
]


def _only_error(problem: dict[str, Any]) -> dict[str, str]:
    errors: list[dict[str, str]] = problem["errors"]
    assert len(errors) == 1, errors
    return errors[0]


@each_invalid(INVALID_REFERRALS, ["missing", "too-long", "validator-field", "validator-model"])
async def test_a_referral_that_is_not_valid_is_answered_in_the_readers_language(
    intake: Intake, body: dict[str, Any], invalid: tuple[str, str, str, str, str]
) -> None:
    await invalid_in_the_readers_language(lambda headers: intake.refer(body, **headers), *invalid)


async def test_a_value_not_among_the_allowed_ones_lists_them_as_codes(intake: Intake) -> None:
    """The allowed values are codes (not translated); only the sentence and its "or" are."""
    english = (await intake.refer(UNKNOWN_SOURCE)).json()["errors"][0]["reason"]
    assert english.startswith("Input should be 'ngo', ") and english.count(" or ") == 1
    allowed = english.removeprefix("Input should be ")
    pt, es, _en = await answered_in_the_readers_language(
        lambda headers: intake.refer(UNKNOWN_SOURCE, **headers),
        422,
        f"source: Input should be {allowed}",
        "source: El valor debe ser " + allowed.replace(" or ", " o "),
        "source: O valor deve ser " + allowed.replace(" or ", " ou "),
    )
    assert _only_error(pt)["code"] == _only_error(es)["code"] == "literal_error"


async def test_a_check_of_the_handler_names_its_field_in_the_readers_language(
    intake: Intake,
) -> None:
    """``invalid_field``: paging with a cursor and an offset at once."""
    await invalid_in_the_readers_language(
        lambda headers: intake.http.get(
            "/cases",
            params={"office": "GT-GUA", "cursor": "c", "offset": 10},
            headers={**CASEWORKER, **headers},
        ),
        "cursor",
        "value_error",
        "page with cursor or with offset, not both",
        "pagine con cursor o con offset, no con ambos",
        "pagine com cursor ou com offset, não com ambos",
        where="query",
    )


# (path, query, (field, English, Spanish, Portuguese)): a refusal of case_list.py.
LIST_REFUSALS: list[tuple[str, dict[str, str], tuple[str, str, str, str]]] = [
    (
        "/incoming",
        {"cursor": "%%%"},
        (
            "cursor",
            "not a cursor this list gave",
            "no es un cursor que haya dado esta lista",
            "não é um cursor dado por esta lista",
        ),
    ),
    (
        "/cases",
        {"destination_region": "Atlántida"},
        (
            "destination_region",
            "needs destination_country (a region of which country?)",
            "necesita destination_country (¿una región de qué país?)",
            "precisa de destination_country (uma região de que país?)",
        ),
    ),
]


@pytest.mark.parametrize(
    ("path", "params", "refusal"), LIST_REFUSALS, ids=["cursor", "region-without-country"]
)
async def test_a_lists_filters_are_refused_in_the_readers_language(
    intake: Intake, path: str, params: dict[str, str], refusal: tuple[str, str, str, str]
) -> None:
    """``invalid_field`` of the case and incoming lists (case_list.py)."""
    field, english, spanish, portuguese = refusal
    await invalid_in_the_readers_language(
        lambda headers: intake.http.get(path, params=params, headers={**CASEWORKER, **headers}),
        field,
        "value_error",
        english,
        spanish,
        portuguese,
        where="query",
    )


async def test_a_reader_of_a_language_without_a_catalog_reads_english(intake: Intake) -> None:
    """A language no catalog has: the English, said to be English."""
    response = await intake.refer(WITHOUT_OFFICE, **{"Accept-Language": "de"})
    assert response.status_code == 422
    assert response.json()["detail"] == "office: Field required"
    assert response.headers["content-language"] == "en"
