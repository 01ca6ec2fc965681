"""Reintegration's REST API: commands (POST) and queries over the read models (GET).

Errors are problem+json (avrr_events.web.http): a rule of the case or of the
programme (over budget, over the programme cap, no plan yet, withdrawn case)
is a 422 problem and nothing is written; a concurrent write of the same case
is a 409. Every POST honours Idempotency-Key and If-Match (the strong ETag
``"<version>"`` of the case's stream). Money is rendered as decimal strings,
never as binary floats. Monitoring notes are decrypted per request for the
case-working roles and read ``"erased"`` once the case was erased.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import ERASED, Encrypted
from avrr_events.commands import etag
from avrr_events.dates import PastDate, PastMoment
from avrr_events.notices import N_
from avrr_events.personal import ERASED_MARKER
from avrr_events.problems import NotFound
from avrr_events.web.authorization import STAFF, Authorized, Policy, Role, allow
from avrr_events.web.commands import BodyCommand, Command, service_commands
from avrr_events.web.notices import (
    NOTICE_RESPONSES,
    NoticeLanguage,
    notice_response,
    reader_language,
)
from avrr_events.web.paging import EntriesPage
from avrr_events.web.responses import routed_to
from avrr_events.web.service import runtime_of
from avrr_events.web.withdrawal import add_conflicts_list
from avrr_events.withdrawal import Resolution
from avrr_reintegration import handover, notices, read_models
from avrr_reintegration.commands import ReintegrationCommands
from avrr_reintegration.directory import ServiceKind
from avrr_reintegration.notices import NO_REINTEGRATION, worded
from avrr_reintegration.overdue import granted_without_plan, visits
from avrr_reintegration.reintegration import (
    Amount,
    AssistanceKind,
    Currency,
    Method,
    PlanComponentIn,
    Reintegration,
    Satisfaction,
    Stage,
)

WRITERS = (Role.REINTEGRATION_OFFICER, Role.SUPERVISOR)
# Caseworkers follow their returnees up; monitoring notes stay with WRITERS (see below).
READERS = (*WRITERS, Role.CASEWORKER)


async def case_offices(request: Request, case_id: str) -> frozenset[str] | None:
    """The offices that work the reintegration case: its movement's, and the receiving
    office once handed over (None: no such case, the route answers 404).

    For the case's detail (``GET /cases/{case_id}``) the view is read here, in the one
    statement that also holds its offices, and kept in the request for the route: the
    offices and the view are then one round trip, and one snapshot.
    """
    db = runtime_of(request).db
    if not routed_to(request, "get_case"):
        return await handover.case_offices(db, case_id)
    found = await read_models.case_view_and_offices(db, handover.handovers, case_id)
    request.state.case_view = None if found is None else found[0]
    return None if found is None else found[1]


WRITE = allow(*WRITERS, scope="case")
READ = allow(*READERS, scope="case")

POLICY = Policy(
    {
        "POST /cases/{case_id}/plan": WRITE,
        "POST /cases/{case_id}/disbursements": WRITE,
        "POST /cases/{case_id}/referrals": WRITE,
        "POST /cases/{case_id}/monitoring-visits": WRITE,
        "POST /cases/{case_id}/sustainability-scores": WRITE,
        "POST /cases/{case_id}/completion": WRITE,
        "GET /cases/{case_id}": READ,
        "GET /cases/{case_id}/plan": READ,
        # The plan as the returnee is given it: its activities are personal, so the plan's
        # readers only (as GET /cases/{case_id}/plan); every rendering audited.
        "GET /cases/{case_id}/notices/plan": READ,
        "GET /cases/{case_id}/ledger": READ,
        "GET /cases/{case_id}/referrals": READ,
        "GET /cases/{case_id}/monitoring": READ,
        "GET /cases/{case_id}/sustainability": READ,
        "GET /monitoring/overdue": allow(*WRITERS, scope="office"),
        "GET /plans/overdue": allow(*WRITERS, scope="office"),
        "GET /programmes": allow(*STAFF),
        "GET /programmes/{programme_id}/totals": allow(*STAFF),
        # Places are allocated programme-wide, so the queue spans offices (ids and
        # priorities only, no personal data).
        "GET /programmes/{programme_id}/waitlist": allow(*WRITERS),
        "GET /directory": allow(*STAFF),
        "GET /directory/{organisation_id}": allow(*STAFF),
        # Withdrawal conflicts (avrr_events.withdrawal): a supervisor's list and resolution.
        "GET /withdrawal-conflicts": allow(Role.SUPERVISOR, scope="office"),
        "POST /cases/{case_id}/withdrawal-conflicts/{conflict_id}/resolution": allow(
            Role.SUPERVISOR, scope="case"
        ),
    },
    case_offices=case_offices,
)

_UNREAD = object()  # no case view read for this request yet

router = APIRouter(tags=["reintegration"])

CaseId = Annotated[str, Path(max_length=100)]
PathId = Annotated[str, Path(max_length=100)]  # a programme's, an organisation's, a conflict's
Office = Annotated[str, Query(min_length=1, max_length=100)]
AsOf = Annotated[date | None, Query(description="default: today")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanIn(_In):
    components: list[PlanComponentIn] = Field(min_length=1, max_length=30)
    agreed_at: PastMoment


class DisbursementIn(_In):
    kind: AssistanceKind
    amount: Amount
    currency: Currency
    method: Method = Field(
        description="cash (CBI): bank_transfer, mobile_money, cash_in_hand, prepaid_card, "
        "voucher; in kind: goods_delivered, paid_to_provider"
    )
    disbursed_on: PastDate


class ReferralIn(_In):
    organisation_id: str = Field(
        min_length=1,
        max_length=100,
        description="an organisation of GET /directory that the case's programme maps (else 422)",
    )
    service: ServiceKind
    referred_on: PastDate


class VisitIn(_In):
    due_month: int = Field(ge=1, le=120)
    visited_on: PastDate
    notes: str | None = Field(default=None, min_length=1, max_length=5000)
    satisfaction: Satisfaction | None = None


class SurveyIn(_In):
    stage: Stage
    answers: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        min_length=1,
        max_length=200,
        description="a score for every indicator of the case's programme (its sustainability "
        "indicators in GET /programmes), none other; else 422",
    )
    scored_on: PastDate


class CompletionIn(_In):
    completed_on: PastDate


class ConflictResolutionIn(_In):
    resolution: Resolution
    reason: str = Field(
        min_length=1, max_length=1000, description="personal: encrypted like the case's notes"
    )


def commands_of(request: Request) -> ReintegrationCommands:
    """The service's command object (``Service(commands=...)``, main.py)."""
    commands: ReintegrationCommands = service_commands(request)
    return commands


Commands = Annotated[ReintegrationCommands, Depends(commands_of)]


class CaseCommand:
    """A command on the route's case, given the body's fields as its keyword arguments (the
    same names); its result is read at the case."""

    def __init__(self, case_id: CaseId, command: Command) -> None:
        self.case_id, self.command = case_id, command

    async def __call__(self, run: BodyCommand, body: _In) -> Response:
        return await self.command.on_case(
            self.case_id, self.command.with_body(run, self.case_id, body)
        )


OnCase = Annotated[CaseCommand, Depends()]


def _plain(value: Any) -> Any:
    """JSON-ready: money as decimal strings, dates as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ----------------------------------------------------------------- commands --


@router.post(
    "/cases/{case_id}/withdrawal-conflicts/{conflict_id}/resolution",
    summary="Resolve a disbursement recorded after the case's withdrawal",
)
async def resolve_withdrawal_conflict(
    case_id: CaseId,
    conflict_id: PathId,
    body: ConflictResolutionIn,
    command: Command,
    commands: Commands,
) -> Response:
    """Supervisors: ``disbursement_recovered`` or ``person_consented_again``, with the reason."""
    return await command.on_case(
        case_id,
        lambda ctx: commands.resolve_conflict(
            case_id, conflict_id, body.resolution, body.reason, ctx
        ),
    )


add_conflicts_list(
    router,
    read_models.withdrawal_conflicts,
    """Disbursements of one office's cases recorded after the case's withdrawal (open until
    a supervisor resolves them; ``status=resolved|all`` for the others).""",
    summary="Withdrawal conflicts of one office",
)


@router.post("/cases/{case_id}/plan", status_code=201, summary="Agree the reintegration plan")
async def agree_plan(body: PlanIn, on_case: OnCase) -> Response:
    """Economic, social and psychosocial components with budget lines; flagged late past the
    programme's deadline (30 days after arrival by default). A revision replaces the plan."""
    return await on_case(ReintegrationCommands.agree_plan, body)


@router.post(
    "/cases/{case_id}/disbursements", status_code=201, summary="Disburse cash or in-kind assistance"
)
async def disburse(body: DisbursementIn, on_case: OnCase) -> Response:
    """Refused (422) beyond the plan's remaining budget or the programme's remaining cap."""
    return await on_case(ReintegrationCommands.disburse, body)


@router.post("/cases/{case_id}/referrals", status_code=201, summary="Refer to a mapped service")
async def refer(body: ReferralIn, on_case: OnCase) -> Response:
    return await on_case(ReintegrationCommands.refer, body)


@router.post(
    "/cases/{case_id}/monitoring-visits", status_code=201, summary="Record a monitoring visit"
)
async def record_visit(body: VisitIn, on_case: OnCase) -> Response:
    return await on_case(ReintegrationCommands.record_visit, body)


@router.post(
    "/cases/{case_id}/sustainability-scores",
    status_code=201,
    summary="Score a sustainability survey (baseline or end)",
)
async def score_survey(body: SurveyIn, on_case: OnCase) -> Response:
    return await on_case(ReintegrationCommands.score_survey, body)


@router.post("/cases/{case_id}/completion", status_code=201, summary="Complete the reintegration")
async def complete(body: CompletionIn, on_case: OnCase) -> Response:
    """Needs the end survey; frees the case's place for the highest-priority waiting case."""
    return await on_case(ReintegrationCommands.complete, body)


# ------------------------------------------------------------------ queries --


async def _read(
    request: Request, query: Callable[[AsyncConnection, str], Awaitable[Any]], key: str
) -> Any:
    """What one read model holds for ``key`` (a case's, a programme's), JSON-ready."""
    async with runtime_of(request).db.autocommit() as conn:
        return _plain(await query(conn, key))


async def _case_or_404(request: Request, case_id: str) -> dict[str, Any]:
    # Read by office scoping (case_offices) for the detail, unless the app's policy looks
    # offices up another way: then here, on the database (one prepared read, no checkout).
    kept: Any = getattr(request.state, "case_view", _UNREAD)
    view: dict[str, Any] | None = (
        await read_models.case_view(runtime_of(request).db, case_id) if kept is _UNREAD else kept
    )
    if view is None:
        raise NotFound(wording=worded(NO_REINTEGRATION, case=case_id))
    return view


@router.get("/cases/{case_id}", name="get_case", summary="The case's decision, status and plan")
async def get_case(case_id: CaseId, request: Request, _p: Authorized) -> JSONResponse:
    view = await _case_or_404(request, case_id)
    version = await runtime_of(request).store.stream_version(
        f"{Reintegration.stream_type}-{case_id}"
    )
    revealed = await runtime_of(request).cipher.reveal(view)  # the plan's activities
    return JSONResponse(_plain(revealed), headers={"ETag": etag(version)})


@router.get("/cases/{case_id}/plan", summary="The agreed plan")
async def get_plan(case_id: CaseId, request: Request, _p: Authorized) -> Any:
    view = await _case_or_404(request, case_id)
    if view["plan"] is None:
        raise NotFound(wording=worded(N_("no plan agreed for case %(case)s"), case=case_id))
    view = await runtime_of(request).cipher.reveal(view)  # the activities, or "erased"
    keys = ("plan_total", "plan_currency", "plan_agreed_at", "plan_days_after_arrival", "plan_late")
    return _plain(
        {"case_id": case_id, "components": view["plan"], **{k[5:]: view[k] for k in keys}}
    )


@router.get(
    "/cases/{case_id}/notices/plan",
    summary="The plan summary in the returnee's language, as HTML or PDF (by Accept)",
    response_class=Response,
    responses=NOTICE_RESPONSES,
)
async def plan_notice(
    case_id: CaseId, request: Request, _p: Authorized, language: NoticeLanguage = None
) -> Response:
    """The plan's assistance in words with its budget, the monitoring visits' dates, the
    organisations the returnee was referred to and the receiving office, and their rights,
    in ``language``, else the returnee's recorded language (travel's arrival carried it),
    else Accept-Language."""
    view = await _case_or_404(request, case_id)
    case = await commands_of(request).cases.load(case_id)
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        due = await read_models.case_visits(conn, case_id)
        referred = await read_models.case_referrals(conn, case_id)
    directory = commands_of(request).directory
    facts = notices.PlanFacts(
        case=await runtime.cipher.reveal(view),  # the activities, or "erased"
        visits=due,
        referred_to=[
            found
            for r in referred
            if (found := directory.organisation(r["organisation_id"])) is not None
        ],
        office=runtime.offices.get(view["office"]) if view["office"] else None,
    )
    chosen = language or reader_language(request, notices.person_languages(case))
    notice = notices.plan_summary(facts, chosen)
    return await notice_response(request, notice, filename="reintegration-plan")


@router.get("/cases/{case_id}/ledger", summary="Disbursements against the plan's budget")
async def get_ledger(case_id: CaseId, request: Request, _p: Authorized) -> Any:
    view = await _case_or_404(request, case_id)
    async with runtime_of(request).db.autocommit() as conn:
        entries = await read_models.ledger_entries(conn, case_id)
    budget = view["plan_total"]
    disbursed = view["disbursed_total"]
    return _plain(
        {
            "case_id": case_id,
            "currency": view["plan_currency"],
            "budget": budget,
            "disbursed": disbursed,
            "remaining": None if budget is None else budget - disbursed,
            "entries": [
                {k: v for k, v in e.items() if k not in ("case_id", "entry_no")} for e in entries
            ],
        }
    )


@router.get("/cases/{case_id}/referrals", summary="Referrals to local services")
async def get_referrals(case_id: CaseId, request: Request, _p: Authorized) -> Any:
    await _case_or_404(request, case_id)
    async with runtime_of(request).db.autocommit() as conn:
        found = await read_models.case_referrals(conn, case_id)
    return _plain([{k: v for k, v in x.items() if k != "entry_no"} for x in found])


@router.get("/cases/{case_id}/monitoring", summary="Monitoring schedule and visits")
async def get_monitoring(
    case_id: CaseId,
    request: Request,
    principal: Authorized,
    as_of: Annotated[date | None, Query(description="overdue as of this date (today)")] = None,
) -> Any:
    await _case_or_404(request, case_id)
    day = as_of or datetime.now(UTC).date()
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        visits = await read_models.case_visits(conn, case_id)
        do_not_contact = await read_models.consent_withdrawn(
            conn, case_id, read_models.CONTACT_BY_PROGRAMME
        )
    may_read_notes = principal.has_any_role(WRITERS)
    out = []
    for v in visits:
        notes: Any = None
        if v["notes"] is not None and may_read_notes:
            plain = await runtime.cipher.decrypt(Encrypted.model_validate(v["notes"]))
            notes = ERASED_MARKER if plain is ERASED else plain
        out.append(
            {
                "due_month": v["due_month"],
                "due_on": v["due_on"],
                "visited_on": v["visited_on"],
                "overdue": v["visited_on"] is None and v["due_on"] < day,
                # The person withdrew consent to be contacted: visit only if they ask.
                "do_not_contact": do_not_contact,
                "notes": notes,
            }
        )
    return _plain(out)


@router.get("/cases/{case_id}/sustainability", summary="Sustainability scores")
async def get_scores(case_id: CaseId, request: Request, _p: Authorized) -> Any:
    await _case_or_404(request, case_id)
    return await _read(request, read_models.case_scores, case_id)


@dataclass(frozen=True)
class OfficeDay:
    """What an overdue list is of: one office, as of a day (``as_of``, else today)."""

    office: str
    day: date

    def answer(self, items: list[dict[str, Any]]) -> Any:
        return _plain({"office": self.office, "as_of": self.day, "items": items})


def office_day(office: Office, as_of: AsOf = None) -> OfficeDay:
    return OfficeDay(office, as_of or datetime.now(UTC).date())


OfOfficeDay = Annotated[OfficeDay, Depends(office_day)]


@router.get("/monitoring/overdue", summary="Overdue monitoring visits of one office")
async def overdue(
    request: Request,
    principal: Authorized,
    at: OfOfficeDay,
    page: EntriesPage,  # after the office and day, as the OpenAPI document lists them
) -> Any:
    async with runtime_of(request).db.autocommit() as conn:
        rows = await visits(conn, at.office, at.day, limit=page.limit, offset=page.offset)
    return at.answer([{**r, "days_overdue": (at.day - r["due_on"]).days} for r in rows])


@router.get("/plans/overdue", summary="Granted cases of one office still without a plan")
async def plans_overdue(request: Request, principal: Authorized, at: OfOfficeDay) -> Any:
    """Past the programme's plan deadline (30 days after arrival by default) without a plan."""
    day = at.day
    catalogue = commands_of(request).catalogue
    async with runtime_of(request).db.autocommit() as conn:
        rows = await granted_without_plan(conn, at.office)
    items = []
    for row in rows:
        programme = catalogue.programme(row["programme_id"])
        if programme is None or row["arrived_on"] is None:
            continue
        deadline = row["arrived_on"] + timedelta(days=programme.plan_deadline_days)
        if deadline < day:
            items.append({**row, "plan_due_on": deadline, "days_late": (day - deadline).days})
    return at.answer(items)


@router.get("/programmes", summary="Programmes and their reintegration limits")
async def programmes(request: Request, _p: Authorized) -> Any:
    catalogue = commands_of(request).catalogue
    return [p.model_dump(mode="json") for p in catalogue.programmes.values()]


@router.get("/programmes/{programme_id}/totals", summary="Per-programme totals (non-personal)")
async def programme_totals(programme_id: PathId, request: Request, _p: Authorized) -> Any:
    programme = commands_of(request).catalogue.programme(programme_id)
    if programme is None:
        raise NotFound(wording=worded(N_("no programme %(programme)s"), programme=programme_id))
    async with runtime_of(request).db.autocommit() as conn:
        row = await read_models.totals(conn, programme_id)
    zero = Decimal(0)
    row = row or {
        "programme_id": programme_id,
        "currency": programme.currency,
        **dict.fromkeys(("granted", "waitlisted", "not_offered", "completed", "withdrawn"), 0),
        **dict.fromkeys(("plans_agreed", "plans_late", "disbursements"), 0),
        **dict.fromkeys(("disbursed_total", "cash_total", "in_kind_total"), zero),
    }
    row["currency"] = row["currency"] or programme.currency
    row["budget"] = programme.budget
    row["places"] = programme.places
    row["budget_remaining"] = (
        None if programme.budget is None else programme.budget - row["disbursed_total"]
    )
    return _plain(row)


@router.get("/programmes/{programme_id}/waitlist", summary="Waiting cases, next first")
async def programme_waitlist(programme_id: PathId, request: Request, _p: Authorized) -> Any:
    return await _read(request, read_models.waitlist, programme_id)


@router.get("/directory", summary="Local organisations mapped by the programmes")
async def directory(
    request: Request,
    _p: Authorized,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    service: ServiceKind | None = None,
    programme_id: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    found = commands_of(request).directory.search(
        country=country, region=region, service=service, programme_id=programme_id
    )
    return [o.model_dump(mode="json") for o in found]


@router.get("/directory/{organisation_id}", summary="One mapped organisation")
async def organisation(organisation_id: PathId, request: Request, _p: Authorized) -> Any:
    found = commands_of(request).directory.organisation(organisation_id)
    if found is None:
        raise NotFound(
            wording=worded(N_("no organisation %(organisation)s"), organisation=organisation_id)
        )
    return found.model_dump(mode="json")
