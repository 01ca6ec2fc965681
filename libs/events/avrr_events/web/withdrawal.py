"""The supervisors' list of withdrawal conflicts as a route (``GET /withdrawal-conflicts``).

Travel and reintegration serve the same list (``avrr_events.withdrawal``): one office's
conflicts, open by default, ``status=resolved|all`` for the others. Only the table and
the words of the OpenAPI document differ, so the route is declared here once.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy import Table

from avrr_events.web.authorization import Authorized
from avrr_events.withdrawal import ListStatus, supervisors_list


def add_conflicts_list(
    router: APIRouter, table: Table, description: str, summary: str | None = None
) -> None:
    """Declare ``GET /withdrawal-conflicts`` on ``router``, listing ``table`` (the service's
    ``conflicts_table``); ``description`` and ``summary`` are the OpenAPI document's words."""

    async def withdrawal_conflicts(
        request: Request,
        who: Authorized,
        office: Annotated[str, Query(min_length=1, max_length=100)],
        status: Annotated[ListStatus, Query()] = "open",
    ) -> Any:
        rt = request.app.state.runtime
        return jsonable_encoder(await supervisors_list(rt.db, rt.cipher, table, office, status))

    router.get("/withdrawal-conflicts", summary=summary, description=inspect.cleandoc(description))(
        withdrawal_conflicts
    )
