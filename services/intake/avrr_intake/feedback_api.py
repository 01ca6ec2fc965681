"""Feedback and complaints over REST: record, list (and the overdue list), read, acknowledge,
resolve, and the report by category and office (feedback.py says who sees what and why).

Every route checks its caller itself (rule scope ``handler``, so every call is audited):
an item the caller may not handle answers 404, the same as one that does not exist, so
the office a complaint is about cannot even learn that there is one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Repository
from avrr_events.commands import CommandContext, CommandResult, Principal, etag
from avrr_events.envelope import utc
from avrr_events.problems import DomainRuleViolation, Forbidden
from avrr_events.small_cells import min_households, suppress
from avrr_events.validation import InvalidValue
from avrr_events.web.authorization import (
    Authorized,
    Policy,
    Role,
    allow,
    may_see,
    sees_every_office,
)
from avrr_events.web.commands import Command
from avrr_events.web.paging import CasesPage
from avrr_events.web.service import ServiceRuntime, runtime_of
from avrr_intake import handover, satisfaction
from avrr_intake.case import Case
from avrr_intake.commands import SOURCE, Input, LongText, ShortText
from avrr_intake.events import registry
from avrr_intake.feedback import (
    FEEDBACK_ID_PATTERN,
    Category,
    Feedback,
    FeedbackDeadlines,
    FeedbackRecorded,
    Outcome,
    Status,
    feedback_items,
    may_handle,
    no_feedback,
    overdue,
    routed_to,
)
from avrr_intake.notes import must_be_about_a_member
from avrr_intake.notices import N_, worded
from avrr_intake.refusals import no_case

# Staff who meet migrants and may take their feedback down; a partner (referrer) may too.
STAFF_RECORDERS = (
    Role.CASEWORKER,
    Role.SUPERVISOR,
    Role.TRAVEL_OFFICER,
    Role.REINTEGRATION_OFFICER,
    Role.FOCAL_POINT,
)
HANDLERS = (Role.CASEWORKER, Role.SUPERVISOR, Role.FOCAL_POINT)
REPORT_READERS = (Role.SUPERVISOR, Role.AUDITOR, Role.FOCAL_POINT)

POLICY = Policy(
    {
        # Staff or a partner; a case may be linked only by staff of its offices (checked).
        "POST /feedback": allow(Role.REFERRER, *STAFF_RECORDERS, scope="handler"),
        # Each item only to who handles it (feedback.may_handle): 404 for anyone else.
        "GET /feedback": allow(*HANDLERS, scope="handler"),
        "GET /feedback/{feedback_id}": allow(*HANDLERS, scope="handler"),
        "POST /feedback/{feedback_id}/acknowledgement": allow(*HANDLERS, scope="handler"),
        "POST /feedback/{feedback_id}/resolution": allow(*HANDLERS, scope="handler"),
        # Counts of the items the caller may handle (auditors: of their offices' ordinary
        # feedback); small cells suppressed outside headquarters.
        "GET /reports/feedback": allow(*REPORT_READERS, scope="handler"),
    }
)

router = APIRouter(tags=["feedback"])

FeedbackId = Annotated[str, Path(pattern=FEEDBACK_ID_PATTERN, description="as POST /feedback gave")]


class FeedbackIn(Input):
    """What the person said, about which office's assistance, and (staff only) whose case."""

    # A person belongs with their case, and a case names the person (the validator below).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {"if": {"required": ["person_id"]}, "then": {"required": ["case_id"]}},
                {"if": {"required": ["case_id"]}, "then": {"required": ["person_id"]}},
            ]
        }
    )

    category: Category = Field(
        description="sexual_exploitation_abuse and staff_misconduct go to the focal point only"
    )
    office: ShortText = Field(
        description="the office whose assistance it is about: an office of the office "
        "registry (another is refused, 422)"
    )
    # Absent, never null, when anonymous: the schema says so (SkipJsonSchema).
    case_id: ShortText | SkipJsonSchema[None] = Field(
        default=None, description="the person's case, when they gave their name (staff only)"
    )
    person_id: ShortText | SkipJsonSchema[None] = Field(
        default=None, description="who of the case said it (required with case_id)"
    )
    text: LongText = Field(description="what the person said; stored encrypted")

    @model_validator(mode="after")
    def _person_with_case(self) -> Self:
        if (self.case_id is None) != (self.person_id is None):
            raise InvalidValue(
                worded(N_("case_id and person_id go together (anonymous feedback has neither)"))
            )
        return self


class ResolutionIn(Input):
    outcome: Outcome
    note: LongText | None = Field(default=None, description="what was done; stored encrypted")


class FeedbackCommands:
    """Record, acknowledge and resolve: each load -> decide -> append on the item's stream."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.cipher = runtime.cipher
        self.repo: Repository[Feedback] = Repository(
            runtime.store, registry, Feedback, source=SOURCE
        )
        self.cases: Repository[Case] = Repository(runtime.store, registry, Case, source=SOURCE)

    async def record(self, body: FeedbackIn, ctx: CommandContext) -> CommandResult:
        by = ctx.principal
        if self.runtime.offices.get(body.office) is None:
            raise DomainRuleViolation(
                wording=worded(
                    N_("office %(office)s is not an office of the registry"), office=body.office
                ),
                field="office",
            )
        feedback_id = str(uuid.uuid4())
        staff = by.has_any_role(STAFF_RECORDERS)
        if body.case_id is not None and body.person_id is not None:
            if not staff:
                raise Forbidden(
                    wording=worded(N_("a partner records feedback without a case (it sees none)"))
                )
            await self._may_link(by, body.case_id, body.person_id)
            subject, channel = body.person_id, "caseworker"
        else:
            subject, channel = f"feedback-{feedback_id}", "anonymous" if staff else "partner"
        now = datetime.now(UTC)
        acknowledge_by, resolve_by = FeedbackDeadlines().due(body.category, now)
        event = FeedbackRecorded(
            feedback_id=feedback_id,
            category=body.category,
            channel=channel,
            office=body.office,
            routed_to=routed_to(body.category),
            linked_case=body.case_id,
            person_id=body.person_id,
            text=await self.cipher.encrypt(subject, body.text),
            recorded_by=by.user_id,
            recorded_at=now,
            acknowledge_by=acknowledge_by,
            resolve_by=resolve_by,
        )
        executed = await self.repo.execute(feedback_id, ctx, lambda item: item.record(event))
        return CommandResult.of(
            executed.aggregate.version,
            status=201,
            feedback_id=feedback_id,
            routed_to=event.routed_to,
            acknowledge_by=event.acknowledge_by.isoformat(),
            resolve_by=event.resolve_by.isoformat(),
            events=executed.events,
        )

    async def _may_link(self, by: Principal, case_id: str, person_id: str) -> None:
        """The case is one of the caller's offices' (403; 404 unknown) and the person is of it
        (422 naming person_id), checked before a key is made for anyone."""
        async with self.runtime.db.autocommit() as conn:
            offices = await handover.case_offices(conn, case_id)
        if offices is None:
            raise no_case(case_id)
        if not sees_every_office(by) and by.offices.isdisjoint(offices):
            raise Forbidden(
                wording=worded(N_("this case belongs to an office that is not one of yours"))
            )
        must_be_about_a_member(await self.cases.load(case_id), person_id)

    async def handled(self, feedback_id: str, by: Principal) -> Feedback:
        """The item, if ``by`` may handle it; else 404 (whether or not it exists)."""
        item = await self.repo.load(feedback_id)
        recorded = item.recorded
        if recorded is None:
            raise no_feedback(feedback_id)
        linked: frozenset[str] = frozenset()
        if recorded.linked_case is not None:
            async with self.runtime.db.autocommit() as conn:
                linked = await handover.case_offices(conn, recorded.linked_case) or frozenset()
        if not may_handle(by, recorded.routed_to, recorded.office, linked):
            raise no_feedback(feedback_id)
        return item

    async def acknowledge(self, feedback_id: str, ctx: CommandContext) -> CommandResult:
        await self.handled(feedback_id, ctx.principal)  # what it is about never changes
        by, now = ctx.principal.user_id, datetime.now(UTC)
        executed = await self.repo.execute(feedback_id, ctx, lambda item: item.acknowledge(by, now))
        return CommandResult.of(
            executed.aggregate.version, feedback_id=feedback_id, events=executed.events
        )

    async def resolve(
        self, feedback_id: str, body: ResolutionIn, ctx: CommandContext
    ) -> CommandResult:
        item = await self.handled(feedback_id, ctx.principal)
        assert item.recorded is not None  # handled() checked
        note = None
        if body.note is not None:  # under the same key as the person's words
            note = await self.cipher.encrypt(item.recorded.text.subject, body.note)
        by, now = ctx.principal.user_id, datetime.now(UTC)
        executed = await self.repo.execute(
            feedback_id, ctx, lambda it: it.resolve(body.outcome, note, by, now)
        )
        return CommandResult.of(
            executed.aggregate.version, feedback_id=feedback_id, events=executed.events
        )


def feedback_commands(request: Request) -> FeedbackCommands | None:
    """The feedback commands (None on an app without a runtime: see ``service_commands``)."""
    runtime = getattr(request.app.state, "runtime", None)
    return None if runtime is None else FeedbackCommands(runtime)


Items = Annotated[FeedbackCommands, Depends(feedback_commands)]


# ------------------------------------------------------------------ routes --


@router.post("/feedback", status_code=201, summary="Record feedback or a complaint")
async def record_feedback(body: FeedbackIn, command: Command, items: Items) -> Response:
    """Routed by category: a complaint of sexual exploitation and abuse or of staff
    misconduct goes to the focal point only; the answer says where, and by when it must be
    acknowledged and resolved. 422 naming ``office`` for an office not in the registry,
    ``person_id`` for someone not of the case; 403 for a case of another office."""
    return await command(lambda ctx: items.record(body, ctx))


async def _linked_offices(
    conn: AsyncConnection, case_ids: Iterable[str | None]
) -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for case_id in {c for c in case_ids if c is not None}:
        found[case_id] = await handover.case_offices(conn, case_id) or frozenset()
    return found


async def _handled_rows(request: Request, principal: Principal) -> list[Any]:
    """Every item row ``principal`` may handle (lists are an office's or a focal point's:
    small; the rule needs the linked cases' offices, read as they are now)."""
    f = feedback_items.c
    async with runtime_of(request).db.autocommit() as conn:
        rows = list(await conn.execute(select(feedback_items).order_by(f.recorded_at.desc())))
        linked = await _linked_offices(conn, (r.linked_case for r in rows))
    return [
        r
        for r in rows
        if may_handle(
            principal, r.routed_to, r.office, linked.get(r.linked_case or "", frozenset())
        )
    ]


def _listed(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "feedback_id": row.feedback_id,
        "category": row.category,
        "channel": row.channel,
        "office": row.office,
        "routed_to": row.routed_to,
        "case_id": row.linked_case,
        "status": row.status,
        "recorded_at": utc(row.recorded_at).isoformat(),
        "acknowledge_by": utc(row.acknowledge_by).isoformat(),
        "resolve_by": utc(row.resolve_by).isoformat(),
        "overdue": overdue(row.status, utc(row.acknowledge_by), utc(row.resolve_by), now),
        "outcome": row.outcome,
    }


@router.get("/feedback", summary="The feedback you handle; overdue=true: the overdue list")
async def list_feedback(
    request: Request,
    principal: Authorized,
    page: CasesPage,
    status: Status | None = None,
    category: Category | None = None,
    office: Annotated[str | None, Query(max_length=100)] = None,
    overdue: bool = False,
) -> dict[str, Any]:
    """Newest first: codes, offices, deadlines and status, never the person's words. With
    ``overdue=true`` only the items past a deadline they have not met."""
    now = datetime.now(UTC)
    listed = [_listed(r, now) for r in await _handled_rows(request, principal)]
    wanted = [
        item
        for item in listed
        if (status is None or item["status"] == status)
        and (category is None or item["category"] == category)
        and (office is None or item["office"] == office)
        and (not overdue or item["overdue"])
    ]
    return page.answer(wanted[page.offset : page.offset + page.limit], len(wanted))


@router.get("/feedback/{feedback_id}", summary="One feedback item, with the person's words")
async def read_feedback(
    feedback_id: FeedbackId, principal: Authorized, items: Items
) -> JSONResponse:
    """404 unless you handle it (``feedback.may_handle``); the words of an erased person
    are gone."""
    item = await items.handled(feedback_id, principal)
    recorded = item.recorded
    assert recorded is not None
    reveal = items.cipher.reveal
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "feedback_id": feedback_id,
        "category": recorded.category,
        "channel": recorded.channel,
        "office": recorded.office,
        "routed_to": recorded.routed_to,
        "case_id": recorded.linked_case,
        "person_id": recorded.person_id,
        "text": await reveal(recorded.text),
        "status": item.status,
        "recorded_by": recorded.recorded_by,
        "recorded_at": recorded.recorded_at.isoformat(),
        "acknowledge_by": recorded.acknowledge_by.isoformat(),
        "resolve_by": recorded.resolve_by.isoformat(),
        "overdue": overdue(item.status, recorded.acknowledge_by, recorded.resolve_by, now),
        "acknowledged_at": item.acknowledged.acknowledged_at.isoformat()
        if item.acknowledged
        else None,
        "resolution": None,
        "version": item.version,
    }
    if item.resolved is not None:
        body["resolution"] = {
            "outcome": item.resolved.outcome,
            "note": await reveal(item.resolved.note) if item.resolved.note else None,
            "resolved_by": item.resolved.resolved_by,
            "resolved_at": item.resolved.resolved_at.isoformat(),
        }
    return JSONResponse(body, headers={"ETag": etag(item.version)})


@router.post("/feedback/{feedback_id}/acknowledgement", summary="Acknowledge feedback")
async def acknowledge_feedback(feedback_id: FeedbackId, command: Command, items: Items) -> Response:
    """409 once acknowledged or resolved; 404 unless you handle it."""
    return await command(lambda ctx: items.acknowledge(feedback_id, ctx))


@router.post("/feedback/{feedback_id}/resolution", summary="Resolve feedback with its outcome")
async def resolve_feedback(
    feedback_id: FeedbackId, body: ResolutionIn, command: Command, items: Items
) -> Response:
    """409 once resolved; 404 unless you handle it."""
    return await command(lambda ctx: items.resolve(feedback_id, body, ctx))


COUNTS = ("items", "open", "overdue", "resolved")
SATISFACTION = ("answers", "satisfied", "mean_score")


@router.get("/reports/feedback", summary="Feedback by office and category (no personal data)")
async def report_feedback(
    request: Request,
    principal: Authorized,
    office: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Counts of the items the caller handles (a focal point: the complaints routed to it;
    office staff and auditors: their offices' other feedback), by office and category.
    Outside headquarters a cell of fewer than AVRR_PUBLIC_MIN_HOUSEHOLDS items is
    suppressed (avrr_events.small_cells). With them, the answers to the satisfaction
    question of the monitoring visits (satisfaction.py) by office and visit month, of the
    caller's offices."""
    now = datetime.now(UTC)
    reader = principal
    if Role.AUDITOR in principal.roles and not principal.has_any_role(HANDLERS):
        # An auditor reads the counts an office's supervisor would.
        reader = Principal(principal.user_id, frozenset({Role.SUPERVISOR}), principal.offices)
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in await _handled_rows(request, reader):
        if office is not None and row.office != office:
            continue
        cell = cells.setdefault(
            (row.office, row.category),
            {"office": row.office, "category": row.category, **dict.fromkeys(COUNTS, 0)},
        )
        late = overdue(row.status, utc(row.acknowledge_by), utc(row.resolve_by), now)
        cell["items"] += 1
        cell["open"] += row.status != "resolved"
        cell["overdue"] += late
        cell["resolved"] += row.status == "resolved"
    breakdown = [cells[k] for k in sorted(cells)]
    async with runtime_of(request).db.autocommit() as conn:
        answered = await satisfaction.by_office_and_visit(conn)
    visits = [
        {
            "office": r.office,
            "due_month": r.due_month,
            "answers": r.answers,
            "satisfied": int(r.satisfied or 0),
            "mean_score": round(float(r.score_total) / r.answers, 2),
        }
        for r in answered
        if (office is None or r.office == office) and may_see(principal, (r.office,))
    ]
    minimum = min_households()
    if not sees_every_office(principal):
        breakdown = suppress(breakdown, households="items", counts=COUNTS, minimum=minimum)
        visits = suppress(visits, households="answers", counts=SATISFACTION, minimum=minimum)
    return {
        "by_office_and_category": breakdown,
        "satisfaction_by_office_and_visit": visits,
        "satisfaction_scale": satisfaction.SCALE,
        "min_cell": minimum,
    }
