"""Manifests over REST: a group's and a day's, and a group's consulate list (CSV, PDF, HTML).

They name the travellers and their identity documents, so they are for the travel officers
of the cases' offices only (headquarters: every office); a group of another office reads as
404, never as a list of names. Each rendering is audited twice: the route (the request
middleware, ``scope="office"``) and one entry per case listed (as a people search is), so a
case's audit trail shows every manifest that named its people. ``Accept: text/csv`` gives
CSV, ``application/pdf`` a printable PDF, anything else HTML (avrr_events.web.notices).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.commands import Principal
from avrr_events.notices.wording import Wording
from avrr_events.problems import NotFound
from avrr_events.web.authorization import (
    Authorized,
    Policy,
    Role,
    allow,
    ensure_office,
    sees_every_office,
)
from avrr_events.web.notices import NOTICE_RESPONSES, notice_response
from avrr_events.web.service import runtime_of
from avrr_intake import manifests
from avrr_intake.api import case_offices
from avrr_intake.notices import N_, worded

MANIFEST_READERS = allow(Role.TRAVEL_OFFICER, scope="office")

POLICY = Policy(
    {
        "GET /groups/{group_id}/manifest": MANIFEST_READERS,
        "GET /groups/{group_id}/consulate-list": MANIFEST_READERS,
        "GET /manifests": MANIFEST_READERS,
    },
    case_offices=case_offices,
)

router = APIRouter(tags=["intake manifests"])

GroupId = Annotated[str, Path(min_length=1, max_length=100)]
CSV = "text/csv"
RESPONSES = {
    **NOTICE_RESPONSES,
    200: {
        "description": "the manifest as CSV (Accept: text/csv), PDF or HTML",
        "content": {
            CSV: {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
    404: {"description": "no traveller of the caller's offices in the group"},
}
Cases = Callable[[AsyncConnection], Awaitable[list[str]]]


def _offices(principal: Principal) -> frozenset[str] | None:
    return None if sees_every_office(principal) else principal.offices


async def _answer(
    request: Request,
    principal: Principal,
    cases: Cases,
    *,
    title: str,
    filename: str,
    consented_to_share: bool = False,
    empty_is_missing: Wording | None = None,
) -> Response:
    """The travellers of ``cases`` within the caller's offices, audited per case, rendered."""
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        case_ids = await manifests.within(conn, await cases(conn), _offices(principal))
        if not case_ids and empty_is_missing:
            raise NotFound(wording=empty_is_missing)
        # What is shared with a consulate follows the consent as it stands now (a withdrawal
        # answered a moment ago included), not the read model's copy of it.
        lines = await manifests.travellers(
            conn,
            runtime.cipher,
            case_ids,
            consented_to_share=consented_to_share,
            repo=runtime.commands.repo if consented_to_share else None,
        )
    route = f"GET {getattr(request.scope.get('route'), 'path', request.url.path)}"
    if case_ids:  # none named: the request middleware's entry says the call was made
        await runtime.audit.record_reads(
            actor=principal.user_id,
            route=route,
            case_ids=case_ids,
            client=request.client.host if request.client else None,
        )
    if CSV in request.headers.get("accept", ""):
        return Response(
            manifests.as_csv(lines),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}.csv"',
                "Cache-Control": "no-store",
            },
        )
    footer = f"{len(lines)} traveller(s). Confidential: read by {principal.user_id}, audited."
    return await notice_response(
        request, manifests.as_notice(title, lines, footer), filename=filename
    )


async def _group(
    request: Request, principal: Principal, group_id: str, kind: str, *, consented_to_share: bool
) -> Response:
    """A group's manifest or consulate list: 404 when none of its cases is of the caller's."""

    async def cases(conn: AsyncConnection) -> list[str]:
        return await manifests.group_cases(conn, group_id)

    return await _answer(
        request,
        principal,
        cases,
        title=f"{kind} of group {group_id}",
        filename=f"{kind.lower().replace(' ', '-')}-{group_id}",
        consented_to_share=consented_to_share,
        empty_is_missing=worded(
            N_("group %(group)s has no traveller of your offices"), group=group_id
        ),
    )


@router.get(
    "/groups/{group_id}/manifest",
    summary="A group movement's manifest: names and documents (travel officers; audited)",
    response_class=Response,
    responses=RESPONSES,
)
async def group_manifest(group_id: GroupId, request: Request, principal: Authorized) -> Response:
    """The households in the group now, each traveller named with their identity document;
    404 when none is of the caller's offices."""
    return await _group(request, principal, group_id, "Manifest", consented_to_share=False)


@router.get(
    "/groups/{group_id}/consulate-list",
    summary="A group's consulate list: only people who consented to share with authorities",
    response_class=Response,
    responses=RESPONSES,
)
async def consulate_list(group_id: GroupId, request: Request, principal: Authorized) -> Response:
    """Only the travellers whose consent to share with authorities is given and not
    withdrawn, with existing data; the others are not named, nor counted."""
    return await _group(request, principal, group_id, "Consulate list", consented_to_share=True)


@router.get(
    "/manifests",
    summary="A day's manifest of an office: every movement ticketed to depart that day",
    response_class=Response,
    responses=RESPONSES,
)
async def day_manifest(
    request: Request,
    principal: Authorized,
    day: Annotated[date, Query(alias="date", description="the departure day, YYYY-MM-DD")],
    office: Annotated[str, Query(min_length=1, max_length=100)],
) -> Response:
    """The travellers of ``office``'s movements departing on ``date`` (403 for an office not
    the caller's); an empty manifest when none departs."""
    ensure_office(principal, office)

    async def cases(conn: AsyncConnection) -> list[str]:
        departing = await manifests.day_cases(conn, day)
        return await manifests.within(conn, departing, frozenset({office}))

    return await _answer(
        request,
        principal,
        cases,
        title=f"Manifest of {office} for {day.isoformat()}",
        filename=f"manifest-{office}-{day.isoformat()}",
    )
