"""Eligibility's REST API: programmes (read), assessment queue and decisions, commands.

Errors are problem+json (avrr_events.web.http): a closed (withdrawn) assessment or
an already cleared one answers 409, a command that contradicts the case 422,
a stale If-Match 412. Every POST honours Idempotency-Key. Command responses
carry ids, versions, event types and reasons (no personal data): they are
stored for idempotent replay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from avrr_eligibility import commands, notices, read_models, reasons
from avrr_eligibility.assessment import Assessment
from avrr_eligibility.commands import (
    BestInterestsIn,
    DueDiligenceIn,
    EligibilityCommands,
    ReopeningIn,
    SuspensionIn,
    VulnerabilityScreeningIn,
)
from avrr_eligibility.programmes import ProgrammeCatalogue
from avrr_eligibility.reasons import worded
from avrr_events.places import place
from avrr_events.projections import case_office
from avrr_events.web.authorization import (
    STAFF,
    Authorized,
    Policy,
    Role,
    allow,
    ensure_acts_for_country,
)
from avrr_events.web.commands import Command
from avrr_events.web.http import DomainRuleViolation, NotFound, Principal, etag
from avrr_events.web.notices import (
    NOTICE_RESPONSES,
    NoticeLanguage,
    notice_response,
    reader_language,
)
from avrr_events.web.paging import CasesPage
from avrr_events.web.responses import PlainJSONResponse, routed_to
from avrr_events.web.service import runtime_of

CASEWORK = (Role.CASEWORKER, Role.SUPERVISOR)
_UNREAD = object()  # no assessment row read for this request yet


async def case_offices(request: Request, case_id: str) -> frozenset[str] | None:
    """The office of the case's assessment (None: no assessment, the route answers 404).

    For the assessment's detail (``GET /assessments/{case_id}``) the whole row is read
    here, and kept in the request for the route: the office and the detail are then one
    round trip, and one snapshot.
    """
    db = runtime_of(request).db
    if not routed_to(request, "get_assessment"):
        return await case_office(db, read_models.assessments, case_id)
    row = await read_models.assessment_row(db, case_id)
    request.state.assessment_row = row
    if row is None:
        return None
    return frozenset({row.office} if row.office else ())


POLICY = Policy(
    {
        "GET /programmes": allow(*STAFF),
        "GET /programmes/{programme_id}": allow(*STAFF),
        "GET /assessments": allow(*CASEWORK, scope="office"),
        "GET /assessments/{case_id}": allow(*CASEWORK, scope="case"),
        "GET /assessments/{case_id}/decision": allow(*CASEWORK, scope="case"),
        # What the person is told: the decision as the caseworker reads it (no personal data).
        "GET /assessments/{case_id}/notices/decision": allow(*CASEWORK, scope="case"),
        "POST /assessments/{case_id}/vulnerability-screenings": allow(*CASEWORK, scope="case"),
        "POST /assessments/{case_id}/best-interests-determinations": allow(*CASEWORK, scope="case"),
        "POST /assessments/{case_id}/due-diligence": allow(*CASEWORK, scope="case"),
        # Travel holds movements to suspended destinations: its officers see why.
        "GET /destinations/suspensions": allow(*CASEWORK, Role.TRAVEL_OFFICER),
        # Supervisors of an office in the destination's country, or headquarters (the
        # handlers check the country against the office registry).
        "POST /destinations/suspensions": allow(Role.SUPERVISOR),
        "POST /destinations/reopenings": allow(Role.SUPERVISOR),
    },
    case_offices=case_offices,
)
CaseId = Annotated[str, Path(max_length=100)]


class AssessmentCommand:
    """A command on the route's case assessment (through ``Command``), located at it."""

    def __init__(self, case_id: CaseId, command: Command) -> None:
        self.case_id, self.command = case_id, command

    async def __call__(self, run: commands.CaseCommand, body: Any) -> Response:
        service = self.command.commands
        at = self.command.url_for("get_assessment", case_id=self.case_id)
        return await self.command(lambda ctx: run(service, self.case_id, body, ctx), location=at)


OnAssessment = Annotated[AssessmentCommand, Depends()]


class DestinationDecision:
    """A decision about a destination, by a supervisor of an office in its country (else 403)."""

    def __init__(self, request: Request, command: Command) -> None:
        self.request, self.command = request, command

    async def __call__(self, run: commands.PlaceCommand, body: commands.DestinationIn) -> Response:
        offices, principal = runtime_of(self.request).offices, self.command.context.principal
        ensure_acts_for_country(principal, body.destination_country, offices, body.decision)
        return await self.command(lambda ctx: run(self.command.commands, body, ctx))


OnDestination = Annotated[DestinationDecision, Depends()]


def build_router(catalogue: ProgrammeCatalogue) -> APIRouter:
    """The routes of the service, serving and deciding with ``catalogue``."""
    router = APIRouter(tags=["eligibility"])

    # ---------------------------------------------------------- programmes --

    @router.get("/programmes", summary="The programmes in force, with the file's version")
    async def list_programmes(_principal: Authorized) -> dict[str, Any]:
        return catalogue.model_dump(mode="json")

    @router.get("/programmes/{programme_id}", summary="One programme")
    async def get_programme(
        programme_id: Annotated[str, Path(max_length=63)], _principal: Authorized
    ) -> dict[str, Any]:
        programme = catalogue.get(programme_id)
        if programme is None:
            raise NotFound(wording=worded(reasons.NO_PROGRAMME, programme=programme_id))
        return {"version": catalogue.version, **programme.model_dump(mode="json")}

    # --------------------------------------------------------- assessments --

    @router.get("/assessments", summary="An office's assessment queue, most vulnerable first")
    async def assessment_queue(
        *,  # the page, a dependency, comes last: after parameters with defaults
        request: Request,
        principal: Authorized,
        office: Annotated[str, Query(min_length=1, max_length=100)],
        status: Annotated[list[str] | None, Query(json_schema_extra=read_models.STATUS_SET)] = None,
        destination_suspended: bool | None = None,
        page: CasesPage,
    ) -> dict[str, Any]:
        wanted = status or list(read_models.OPEN_STATUSES)
        unknown = sorted(set(wanted) - set(read_models.STATUSES))
        if unknown:
            raise DomainRuleViolation(
                wording=worded(
                    reasons.UNKNOWN_STATUS,
                    unknown=", ".join(unknown),
                    known=", ".join(read_models.STATUSES),
                )
            )
        async with runtime_of(request).db.autocommit() as conn:
            rows, total = await read_models.queue(
                conn,
                office=office,
                statuses=wanted,
                destination_suspended=destination_suspended,
                limit=page.limit,
                offset=page.offset,
            )
        now = datetime.now(UTC)
        return page.answer([_summary(r, now) for r in rows], total)

    @router.get(
        "/assessments/{case_id}",
        name="get_assessment",
        summary="One assessment (reasons in the Accept-Language: rule codes unchanged)",
    )
    async def get_assessment(case_id: CaseId, request: Request, principal: Authorized) -> Response:
        row = await _row(request, case_id, principal)
        language, worded = await _worded(request, row)
        doc = {
            **_summary(row, datetime.now(UTC)),
            "nationality": row.nationality,
            "host_country": row.host_country,
            "household": row.household,
            "decision": {**_decision(row), "reasons": worded["reasons"]},
            "vulnerabilities": row.vulnerabilities,
            "best_interests_determinations": row.best_interests,
            "due_diligence_reasons": worded["due_diligence_reasons"],
            "cleared_at": _iso(row.cleared_at),
            "closed_at": _iso(row.closed_at),
            "closed_reason": row.closed_reason,
        }
        headers = {"ETag": etag(row.version), "Content-Language": language}
        return PlainJSONResponse(doc, headers=headers)

    @router.get(
        "/assessments/{case_id}/decision",
        summary="The eligibility decision and why (reasons in the Accept-Language)",
    )
    async def get_decision(
        case_id: CaseId, request: Request, response: Response, principal: Authorized
    ) -> dict[str, Any]:
        row = await _row(request, case_id, principal)
        language, worded = await _worded(request, row)
        response.headers["Content-Language"] = language
        return {"case_id": case_id, **_decision(row), "reasons": worded["reasons"]}

    @router.get(
        "/assessments/{case_id}/notices/decision",
        summary="The decision notice in the person's language, as HTML or PDF (by Accept)",
        response_class=Response,
        responses=NOTICE_RESPONSES,
    )
    async def decision_notice(
        case_id: CaseId, request: Request, principal: Authorized, language: NoticeLanguage = None
    ) -> Response:
        """The decision, every reason, what the due diligence still needs, and the person's
        rights, in ``language``, else the person's recorded language, else Accept-Language."""
        row = await _row(request, case_id, principal)
        assessment = await _assessment(request, case_id)
        chosen = language or reader_language(request, notices.person_languages(assessment))
        notice = notices.decision_notice(
            assessment, catalogue, chosen, list(row.due_diligence_reasons)
        )
        return await notice_response(request, notice, filename="eligibility-decision")

    async def _worded(request: Request, row: Any) -> tuple[str, dict[str, Any]]:
        """The reader's language, and the row's reasons worded in it (as recorded in English)."""
        language = reader_language(request)
        if language == "en":
            return language, {
                "reasons": row.reasons,
                "due_diligence_reasons": row.due_diligence_reasons,
            }
        assessment = await _assessment(request, row.case_id)
        return language, notices.translated_decision(row, assessment, catalogue, language)

    # ------------------------------------------------------------ commands --

    @router.post("/assessments/{case_id}/vulnerability-screenings", status_code=201)
    async def screen_vulnerability(body: VulnerabilityScreeningIn, on: OnAssessment) -> Response:
        """Record a vulnerability screening (emits VulnerabilityAssessed)."""
        return await on(EligibilityCommands.screen_vulnerability, body)

    @router.post("/assessments/{case_id}/best-interests-determinations", status_code=201)
    async def record_best_interests(body: BestInterestsIn, on: OnAssessment) -> Response:
        """Record the best-interests determination of a child (needed before clearance)."""
        return await on(EligibilityCommands.record_best_interests, body)

    @router.post("/assessments/{case_id}/due-diligence")
    async def check_due_diligence(body: DueDiligenceIn, on: OnAssessment) -> Response:
        """Submit the checklist: DueDiligenceCleared, or DueDiligenceRejected with ``reasons``."""
        return await on(EligibilityCommands.check_due_diligence, body)

    # -------------------------------------------------------- destinations --

    @router.get("/destinations/suspensions", summary="Active suspensions and the cases they hold")
    async def list_suspensions(request: Request, _principal: Authorized) -> dict[str, Any]:
        async with runtime_of(request).db.autocommit() as conn:
            found = await read_models.active_suspensions(conn)
        return {
            "items": [
                {
                    "destination_country": row.destination_country,
                    "destination_region": row.destination_region,
                    # The ISO 3166-2 code the region was matched to (null: none names it).
                    "destination_region_code": place(
                        row.destination_country, row.destination_region
                    ).region_code,
                    "reason": row.reason,
                    "suspended_by": row.suspended_by,
                    "suspended_at": _iso(row.suspended_at),
                    "cleared_cases_held": held,
                }
                for row, held in found
            ]
        }

    @router.post("/destinations/suspensions", status_code=201)
    async def suspend_destination(body: SuspensionIn, decide: OnDestination) -> Response:
        """Suspend returns to a country or a region of it, saying why (supervisors of an
        office in that country, or headquarters: 403 otherwise)."""
        return await decide(EligibilityCommands.suspend_destination, body)

    @router.post("/destinations/reopenings")
    async def reopen_destination(body: ReopeningIn, decide: OnDestination) -> Response:
        """Reopen returns to a suspended country or region, saying why (supervisors of an
        office in that country, or headquarters: 403 otherwise)."""
        return await decide(EligibilityCommands.reopen_destination, body)

    return router


async def _row(request: Request, case_id: str, principal: Principal) -> Any:
    # Read by office scoping (case_offices) for the detail, unless the app's policy looks
    # offices up another way: then here, on the database (one prepared read, no checkout).
    row = getattr(request.state, "assessment_row", _UNREAD)
    if row is _UNREAD:
        row = await read_models.assessment_row(runtime_of(request).db, case_id)
    if row is None:
        raise NotFound(wording=worded(reasons.NO_ASSESSMENT, case=case_id))
    return row  # its office was checked by the policy (scope "case")


async def _assessment(request: Request, case_id: str) -> Assessment:
    """The case's assessment from the event store: the facts its reasons are worded from."""
    found: Assessment = await runtime_of(request).commands.assessments.load(case_id)
    return found


def _aware(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return _aware(value).isoformat() if value else None


def _summary(row: Any, now: datetime) -> dict[str, Any]:
    requested = _aware(row.requested_at)
    return {
        "case_id": row.case_id,
        "version": row.version,
        "office": row.office,
        "status": row.status,
        "programme_id": row.programme_id,
        "eligible": row.eligible,
        "destination_country": row.destination_country,
        "destination_region": row.destination_region,
        "household_size": len(row.household),
        "unaccompanied_children": row.unaccompanied_children,
        "vulnerability_priority": row.priority,
        "destination_suspended": row.destination_suspended,
        "requested_at": requested.isoformat(),
        "age_days": read_models.age_days(requested, now),
    }


def _decision(row: Any) -> dict[str, Any]:
    return {
        "programme_id": row.programme_id,
        "eligible": row.eligible,
        "reasons": row.reasons,
        "decided_at": _iso(row.decided_at),
        "programmes_version": row.programmes_version,
    }
