"""Why a request's value is refused, in the reader's language (issue 19).

A 422 validation answer lists each invalid field with a reason a person
reads. Three kinds of reason reach it, and each is a catalog message (of the
library's domain ``avrr_events``, or of the service that raises it), so
``avrr_events.web.http`` words it in the language the request asks for
(Accept-Language), and in English, exactly as pydantic or the code wrote it,
without one:

- pydantic's own ("Field required", "String should have at most 200
  characters"): one message per error ``type`` in ``PYDANTIC_REASONS``, with
  the error's ``ctx`` values as its placeholders;
- a request model's validator: it raises ``InvalidValue(worded(N_("..."), **facts))``
  (a ``ValueError``, so pydantic reports it as ever: ``Value error, ...``);
- a check the model cannot make (``invalid_field(field, worded(N_(...)))``):
  its ``Wording`` travels in the error's ``ctx`` as ``reason``.

A reason that is none of these (an error type not in the table, a plain
``ValueError``) stays the English it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from avrr_events.notices.catalogs import N_
from avrr_events.notices.wording import Wording
from avrr_events.refusals import worded

# The ctx key of an invalid_field reason (a Wording).
STATED_REASON = "reason"


class InvalidValue(ValueError):
    """A validator's refusal of a value, as a ``Wording`` (its service's ``worded(N_(...),
    **facts)``). Its text is the English sentence, so pydantic's answer reads as it always
    did; the validation handler words it in the reader's language."""

    def __init__(self, wording: Wording) -> None:
        self.wording = wording
        super().__init__(wording.english)


# pydantic's messages by error type, its ``{name}`` placeholders as ``%(name)s``: the
# English is pydantic's sentence, character for character.
PYDANTIC_REASONS: dict[str, str] = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "json_invalid": N_("Invalid JSON: %(error)s"),
    "model_attributes_type": N_(
        "Input should be a valid dictionary or object to extract fields from"
    ),
    "dict_type": N_("Input should be a valid dictionary"),
    "list_type": N_("Input should be a valid list"),
    "string_type": N_("Input should be a valid string"),
    "string_too_short": N_(
        "String should have at least %(min_length)s character%(expected_plural)s"
    ),
    "string_too_long": N_("String should have at most %(max_length)s character%(expected_plural)s"),
    "string_pattern_mismatch": N_("String should match pattern '%(pattern)s'"),
    "too_short": N_(
        "%(field_type)s should have at least %(min_length)s item%(expected_plural)s after "
        "validation, not %(actual_length)s"
    ),
    "too_long": N_(
        "%(field_type)s should have at most %(max_length)s item%(expected_plural)s after "
        "validation, not %(actual_length)s"
    ),
    "enum": N_("Input should be %(expected)s"),
    "literal_error": N_("Input should be %(expected)s"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "decimal_parsing": N_("Input should be a valid decimal"),
    "greater_than": N_("Input should be greater than %(gt)s"),
    "greater_than_equal": N_("Input should be greater than or equal to %(ge)s"),
    "less_than": N_("Input should be less than %(lt)s"),
    "less_than_equal": N_("Input should be less than or equal to %(le)s"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, %(error)s"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, %(error)s"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime, %(error)s"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime or date, %(error)s"),
    "uuid_parsing": N_("Input should be a valid UUID, %(error)s"),
    "value_error": N_("Value error, %(error)s"),
}

# The ctx number pydantic puts "s" after (its ``expected_plural``).
_COUNTED = {
    "string_too_short": "min_length",
    "string_too_long": "max_length",
    "too_short": "min_length",
    "too_long": "max_length",
}

# pydantic's list of the allowed values: "'a', 'b' or 'c'".
_ALTERNATIVES = re.compile(r"^(?P<some>.+) or (?P<last>'[^']*')$")


def _expected(alternatives: str) -> object:
    """pydantic's "'a', 'b' or 'c'" with its "or" a catalog phrase; the values stay codes."""
    match = _ALTERNATIVES.match(alternatives)
    if match is None:
        return alternatives
    return worded(N_("%(some)s or %(last)s"), some=match["some"], last=match["last"])


def reason_wording(error: Mapping[str, Any]) -> Wording | None:
    """The catalog message of one validation error (an item of ``RequestValidationError.
    errors()``) with its facts, or None when its reason has none (it stays English)."""
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    stated = ctx.get(STATED_REASON)
    if isinstance(stated, Wording):
        return stated
    kind = str(error.get("type", ""))
    message = PYDANTIC_REASONS.get(kind)
    if message is None:
        return None
    facts: dict[str, object] = dict(ctx)
    if kind == "value_error":
        cause = ctx.get("error")
        if not isinstance(cause, InvalidValue):
            return None
        facts["error"] = cause.wording
    if kind in _COUNTED:
        facts["expected_plural"] = "" if ctx.get(_COUNTED[kind]) == 1 else "s"
    if "expected" in facts:
        facts["expected"] = _expected(str(facts["expected"]))
    try:
        message % facts  # every placeholder has its fact (a pydantic of another shape: English)
    except (KeyError, TypeError, ValueError):
        return None
    return worded(message, **facts)
