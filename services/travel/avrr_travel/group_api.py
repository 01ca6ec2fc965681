"""REST routes of group movements (convoys, charters): travel officers of the group's office.

A group belongs to the office that planned it: the handler checks the caller may see it
(the policy's ``handler`` scope), so every role of an unrelated office gets 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from avrr_events.commands import Principal, etag
from avrr_events.notices import N_
from avrr_events.problems import Forbidden, NotFound
from avrr_events.web.authorization import Authorized, Policy, Role, allow, ensure_office
from avrr_events.web.commands import Command
from avrr_events.web.service import runtime_of
from avrr_travel import read_models
from avrr_travel.group import GroupEscort, GroupPlan
from avrr_travel.group_commands import GroupCommands, summary
from avrr_travel.reasons import NO_MOVEMENT, worded

router = APIRouter(tags=["groups"])

GroupId = Annotated[str, Path(min_length=1, max_length=100)]
CaseId = Annotated[str, Path(min_length=1, max_length=200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupAssignment(Body):
    case_id: str = Field(min_length=1, max_length=200)


OFFICER = allow(Role.TRAVEL_OFFICER, scope="handler")
POLICY = Policy(
    {
        "POST /groups": OFFICER,
        "GET /groups/{group_id}": OFFICER,
        "POST /groups/{group_id}/escorts": OFFICER,
        "POST /groups/{group_id}/households": OFFICER,
        "DELETE /groups/{group_id}/households/{case_id}": OFFICER,
        "POST /groups/{group_id}/departure": OFFICER,
        "POST /groups/{group_id}/arrival": OFFICER,
    }
)


def _groups(request: Request) -> GroupCommands:
    rt = runtime_of(request)
    return GroupCommands(rt.db, rt.store)


async def _checked(request: Request, who: Principal, group_id: str) -> GroupCommands:
    """The commands, once the caller is of the group's office (404 before: no group)."""
    groups = _groups(request)
    planned = (await groups.load(group_id)).planned
    assert planned is not None  # load answers 404 otherwise
    ensure_office(who, planned.office)
    return groups


@router.post("/groups", status_code=201)
async def plan_group(body: GroupPlan, request: Request, who: Authorized, command: Command) -> Any:
    """Plan a convoy or charter of your office: date, route, mode, seats, carrier, escorts."""
    ensure_office(who, body.office)
    groups = _groups(request)
    return await command(lambda ctx: groups.plan(body, ctx))


@router.get("/groups/{group_id}")
async def group_detail(group_id: GroupId, request: Request, who: Authorized) -> JSONResponse:
    """The group: seats, escorts, households, and those that left it and why."""
    groups = await _checked(request, who, group_id)
    group = await groups.load(group_id)
    return JSONResponse(jsonable_encoder(summary(group)), headers={"ETag": etag(group.version)})


@router.post("/groups/{group_id}/escorts")
async def assign_escort(
    group_id: GroupId, body: GroupEscort, request: Request, who: Authorized, command: Command
) -> Any:
    """Assign a staff member as escort: their kind and the needs they may escort."""
    groups = await _checked(request, who, group_id)
    return await command(lambda ctx: groups.assign_escort(group_id, body, ctx))


@router.post("/groups/{group_id}/households")
async def assign_household(
    group_id: GroupId, body: GroupAssignment, request: Request, who: Authorized, command: Command
) -> Any:
    """Seat a case's household (its movement, open and not held, of the group's office:
    403 for another office's case, so no office learns of another's cases through a group)."""
    groups = await _checked(request, who, group_id)
    group = await groups.load(group_id)
    assert group.planned is not None
    async with runtime_of(request).db.autocommit() as conn:
        offices = await read_models.movement_offices(conn, body.case_id)
    if offices is None:
        raise NotFound(wording=worded(NO_MOVEMENT, case=body.case_id))
    if group.planned.office not in offices:
        raise Forbidden(
            wording=worded(
                N_("case %(case)s is not of office %(office)s"),
                case=body.case_id,
                office=group.planned.office,
            )
        )
    return await command(lambda ctx: groups.assign(group_id, body.case_id, ctx))


@router.delete("/groups/{group_id}/households/{case_id}")
async def remove_household(
    group_id: GroupId, case_id: CaseId, request: Request, who: Authorized, command: Command
) -> Any:
    groups = await _checked(request, who, group_id)
    return await command(lambda ctx: groups.remove(group_id, case_id, ctx))


@router.post("/groups/{group_id}/departure")
async def depart_group(
    group_id: GroupId, request: Request, who: Authorized, command: Command
) -> Any:
    """Depart together: every ready household departs (one DepartureConfirmed each), the
    others are left behind and leave the group; 409 if a household changed meanwhile."""
    groups = await _checked(request, who, group_id)
    return await command(lambda ctx: groups.depart(group_id, ctx))


@router.post("/groups/{group_id}/arrival")
async def arrive_group(
    group_id: GroupId, request: Request, who: Authorized, command: Command
) -> Any:
    """Confirm the arrival of every departed household (in the partner's name)."""
    groups = await _checked(request, who, group_id)
    return await command(lambda ctx: groups.arrive(group_id, ctx))
