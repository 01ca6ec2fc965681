"""Money: a decimal amount with its bounds, as requests and events carry it.

Pydantic reads an amount from a JSON number or a string and checks its digits;
its JSON Schema says only "number or string". ``amount_schema`` states the same
bounds (digits before and after the point, the minimum), given to the field as
``WithJsonSchema(amount_schema(...))``, so that a client generated from an
OpenAPI document does not send an amount the service refuses ("", "1e-5", 12
digits where 10 fit).
"""

from __future__ import annotations

from typing import Any


def amount_schema(max_digits: int, decimal_places: int, *, positive: bool) -> dict[str, Any]:
    """The JSON Schema of a decimal with at most ``max_digits`` digits, ``decimal_places``
    of them after the point, not negative (``positive``: above zero)."""
    whole = max_digits - decimal_places
    step = 10.0**-decimal_places
    bound = "exclusiveMinimum" if positive else "minimum"
    digits = rf"[0-9]{{1,{whole}}}(\.[0-9]{{1,{decimal_places}}})?$"
    # A positive amount's text is not all zeros ("0", "0.00").
    text = rf"^(?!0+(\.0+)?$){digits}" if positive else rf"^{digits}"
    return {
        "anyOf": [
            {"type": "number", bound: 0, "maximum": 10.0**whole - step, "multipleOf": step},
            {"type": "string", "pattern": text},
        ],
        "description": f"at most {whole} digits before the point and {decimal_places} after",
    }
