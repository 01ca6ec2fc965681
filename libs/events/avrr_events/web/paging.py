"""A page of a list: how every list route takes ``limit`` and ``offset``, and answers.

Declared once so that every list bounds them alike (an offset past PostgreSQL's
bigint is a 422, not a 500) and answers ``{"items", "total", "limit", "offset"}``.
The page is a dependency declared last in a route, so its two parameters come
after the route's own in the OpenAPI document, as they always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

Offset = Annotated[int, Query(ge=0, json_schema_extra={"maximum": 2**63 - 1})]


@dataclass(frozen=True)
class Page:
    """The ``limit`` rows after the first ``offset`` of a list."""

    limit: int
    offset: int

    def answer(self, items: list[Any], total: int, **before: Any) -> dict[str, Any]:
        """The answer of this page of ``total`` rows (``before``: fields that come first)."""
        return {
            **before,
            "items": items,
            "total": total,
            "limit": self.limit,
            "offset": self.offset,
        }


def _cases(limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Offset = 0) -> Page:
    return Page(limit, offset)


def _entries(limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0) -> Page:
    return Page(limit, offset)


CasesPage = Annotated[Page, Depends(_cases)]
"""A page of a list of cases: 50 by default, 200 at most."""
EntriesPage = Annotated[Page, Depends(_entries)]
"""A page of a list of entries (a case's events, visits due): 100 by default, 500 at most."""
