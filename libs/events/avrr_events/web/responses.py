"""Responses and request facts the services' detail reads share.

A detail read (one case's document) is the route clients ask most; what is here
keeps its cost down without changing a byte of what it answers.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse


class PlainJSONResponse(JSONResponse):
    """A document of plain data but for a few values json cannot write (dates, times),
    written with the same bytes as ``JSONResponse(jsonable_encoder(document))``.

    ``jsonable_encoder`` of a whole detail copies every dict and list to convert a few
    datetimes (~110 us of a ~1 ms read); here only the values json cannot write are
    handed to it, one at a time, so each is written as it would have been.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content,
            ensure_ascii=False,
            allow_nan=False,
            indent=None,
            separators=(",", ":"),
            default=jsonable_encoder,
        ).encode("utf-8")


def routed_to(request: Request, name: str) -> bool:
    """Whether the request was routed to the route named ``name``.

    Office scoping runs before the route (a dependency); a service's ``case_offices``
    asks this to read, for its detail route only, the office and the detail in one
    statement and keep the detail in ``request.state`` for the route.
    """
    return getattr(request.scope.get("route"), "name", None) == name
