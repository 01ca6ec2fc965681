"""Countries as the events carry them: ISO 3166-1 alpha-2 codes, checked against pycountry."""

from __future__ import annotations

from typing import Annotated

import pycountry
from pydantic import AfterValidator, WithJsonSchema

from avrr_events.places import not_a_country

# The 27 member states of the European Union (since 1 February 2020). ARVoRe
# serves "migrants from non-EU countries": this is the list it excludes.
EU_MEMBER_STATES: frozenset[str] = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


def country_name(code: str) -> str:
    """The English short name of a country code (the code itself if pycountry lacks it)."""
    country = pycountry.countries.get(alpha_2=code)
    return str(country.name) if country is not None else code


def _check_country(code: str) -> str:
    if len(code) != 2 or not code.isupper() or pycountry.countries.get(alpha_2=code) is None:
        raise not_a_country(code)
    return code


# The schema says what the validator enforces (two capitals), so that the OpenAPI documents
# show a bounded code; the validator's own message stays the one a caller reads.
CountryCode = Annotated[
    str,
    AfterValidator(_check_country),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{2}$", "maxLength": 2}),
]
"""An ISO 3166-1 alpha-2 code of an existing country (``HN``, ``PT``)."""
