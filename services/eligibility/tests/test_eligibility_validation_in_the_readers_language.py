"""Eligibility's 422 validation answers in the reader's language (issue 19).

Against real PostgreSQL and Kafka (the ``eligibility`` fixture). A supervisor
suspending returns to a destination reads the validators' reasons (a reason
too short to say why, a country code no country has) in Portuguese or Spanish
when their client asks, and the English ones they always were without
Accept-Language; the field and the code stay as they are.
"""

from __future__ import annotations

from typing import Any

import pytest
from eligibility_fixtures import SUPERVISOR, Eligibility

from avrr_events.testing import invalid_in_the_readers_language

# (body, field, English, Spanish, Portuguese): the reason of the one error (value_error).
INVALID_SUSPENSIONS: list[tuple[dict[str, Any], str, str, str, str]] = [
    (
        {"destination_country": "HN", "reason": "why"},
        "reason",
        "Value error, say why (at least 5 characters)",
        "Valor no válido: indique el motivo (al menos 5 caracteres)",
        "Valor inválido: indique o motivo (pelo menos 5 caracteres)",
    ),
    (
        {"destination_country": "XX", "reason": "floods on the roads"},
        "destination_country",
        "Value error, 'XX' is not an ISO 3166-1 alpha-2 country code",
        "Valor no válido: 'XX' no es un código de país ISO 3166-1 alfa-2",
        "Valor inválido: 'XX' não é um código de país ISO 3166-1 alfa-2",
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "english", "spanish", "portuguese"),
    INVALID_SUSPENSIONS,
    ids=["reason-too-short", "unknown-country"],
)
async def test_a_validators_reason_is_answered_in_the_readers_language(
    eligibility: Eligibility,
    body: dict[str, Any],
    field: str,
    english: str,
    spanish: str,
    portuguese: str,
) -> None:
    await invalid_in_the_readers_language(
        lambda headers: eligibility.http.post(
            "/destinations/suspensions", json=body, headers={**SUPERVISOR, **headers}
        ),
        field,
        "value_error",
        english,
        spanish,
        portuguese,
    )
