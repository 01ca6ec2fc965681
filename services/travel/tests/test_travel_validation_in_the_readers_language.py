"""Travel's 422 validation answers in the reader's language (issue 19: Accept-Language).

Against real PostgreSQL and Kafka (the ``travel`` fixture), on the arrival
confirmation a receiving office sends: a missing field, a text too long and
a value not among the allowed ones (pydantic's reasons), and an office that
is not in the registry (the handler's check, ``invalid_field``), each read in
Portuguese and Spanish when asked and in the English it always was without
Accept-Language. Field, pointer and code stay as they are.
"""

from __future__ import annotations

from typing import Any

from travel_fixtures import RECEIVING_OFFICE, Travel

from avrr_events.testing import each_invalid, invalid_in_the_readers_language

ARRIVAL = "/movements/case-validation-1/arrival"

# (body, field, code, English, Spanish, Portuguese): the reason of the one error.
INVALID_ARRIVALS: list[tuple[dict[str, Any], str, str, str, str, str]] = [
    (
        {"confirmer_id": "HN-SPS"},
        "confirmed_by",
        "missing",
        "Field required",
        "Campo obligatorio",
        "Campo obrigatório",
    ),
    (
        {"confirmed_by": "partner", "confirmer_id": "x" * 201},
        "confirmer_id",
        "string_too_long",
        "String should have at most 200 characters",
        "El texto debe tener como máximo 200 carácter(es)",
        "O texto deve ter no máximo 200 caractere(s)",
    ),
    (
        {"confirmed_by": "neighbour"},
        "confirmed_by",
        "literal_error",
        "Input should be 'receiving_office' or 'partner'",
        "El valor debe ser 'receiving_office' o 'partner'",
        "O valor deve ser 'receiving_office' ou 'partner'",
    ),
    (
        {"confirmed_by": "receiving_office", "confirmer_id": "XX-NOWHERE"},
        "confirmer_id",
        "value_error",
        "not an office of the office registry",
        "no es una oficina del registro de oficinas",
        "não é um escritório do registo de escritórios",
    ),
]


@each_invalid(INVALID_ARRIVALS, ["missing", "too-long", "not-allowed", "unknown-office"])
async def test_an_arrival_that_is_not_valid_is_answered_in_the_readers_language(
    travel: Travel, body: dict[str, Any], invalid: tuple[str, str, str, str, str]
) -> None:
    await invalid_in_the_readers_language(
        lambda headers: travel.post(ARRIVAL, body, {**RECEIVING_OFFICE, **headers}), *invalid
    )
