"""Intake's REST API: commands (POST) and queries over the read models (GET).

Errors are problem+json (avrr_events.http). Every POST honours
Idempotency-Key; every command on an existing case honours If-Match (the
strong ETag ``"<version>"`` from GET /cases/{id} or from the previous
command's response) and answers 412 when it is stale. Command responses carry
ids and versions only, never personal data, because they are stored for
idempotent replay. Reads decrypt personal values per person and show
``"erased"`` for people whose keys were deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from avrr_events import ERASED, Encrypted, PersonalDataCipher
from avrr_events.http import NotFound, Principal, etag, require_role
from avrr_events.personal import ERASED_MARKER
from avrr_events.service import ServiceRuntime
from avrr_intake import read_models
from avrr_intake.case import Status
from avrr_intake.commands import (
    ConsentIn,
    ConsentWithdrawalIn,
    CounsellingIn,
    Decision,
    IntakeCommands,
    ReferralIn,
    ReturnRequestIn,
    WithdrawalIn,
)
from avrr_intake.consent import Purpose
from avrr_intake.referral import ReferralSource
from avrr_intake.settings import IntakeSettings

WRITERS = ("caseworker", "counsellor", "supervisor")
READERS = (*WRITERS, "data_protection_officer")
ERASERS = ("data_protection_officer",)

router = APIRouter(tags=["intake"])

Reader = Annotated[Principal, Depends(require_role(*READERS))]
Writer = Annotated[Principal, Depends(require_role(*WRITERS))]
Eraser = Annotated[Principal, Depends(require_role(*ERASERS))]
CaseId = Annotated[str, Path(max_length=100)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=100,
        description='the case\'s ETag ("<version>"); stale -> 412 problem',
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="retrying with the same key and body replays the first response",
    ),
]


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def commands_of(request: Request) -> IntakeCommands:
    """The command handlers of this app's runtime (built once, on first use)."""
    state = request.app.state
    commands: IntakeCommands | None = getattr(state, "intake_commands", None)
    if commands is None:
        runtime = runtime_of(request)
        commands = IntakeCommands(runtime, IntakeSettings().secret(runtime.settings))
        state.intake_commands = commands
    return commands


def decision_response(
    request: Request, decision: Decision, status_code: int = 200, **extra: Any
) -> JSONResponse:
    """What a command answers: ids, the new version (also as ETag), the events written."""
    body: dict[str, Any] = {
        "case_id": decision.case_id,
        "version": decision.version,
        "events": decision.events,
        **extra,
    }
    location = str(request.url_for("get_case", case_id=decision.case_id).path)
    return JSONResponse(
        body,
        status_code=status_code,
        headers={"ETag": etag(decision.version), "Location": location},
    )


async def idempotent(
    request: Request, principal: Principal, command: Callable[[], Awaitable[JSONResponse]]
) -> Response:
    """Run a command once per Idempotency-Key (see avrr_events.http.IdempotencyKeys)."""
    response: Response = await runtime_of(request).idempotency.run(request, principal, command)
    return response


# ----------------------------------------------------------------- commands --


@router.post("/referrals", status_code=201, summary="Receive a referral (opens a case)")
async def receive_referral(
    body: ReferralIn, request: Request, principal: Writer, _key: IdempotencyKey = None
) -> Response:
    async def run() -> JSONResponse:
        d = await commands_of(request).receive_referral(
            body, principal, request.headers.get("traceparent")
        )
        return decision_response(
            request,
            d,
            201,
            status="open",
            household=[{"person_id": p, "relationship": r} for p, r in d.person_ids.items()],
            possible_duplicates=[m.model_dump() for m in d.duplicates],
        )

    return await idempotent(request, principal, run)


@router.post("/cases/{case_id}/counselling-sessions", status_code=201)
async def record_counselling(
    case_id: CaseId,
    body: CounsellingIn,
    request: Request,
    principal: Writer,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
) -> Response:
    """Record a counselling session; the outcome decided_not_to_apply closes the case."""

    async def run() -> JSONResponse:
        d = await commands_of(request).record_counselling(
            case_id, body, principal, if_match, request.headers.get("traceparent")
        )
        return decision_response(request, d, 201)

    return await idempotent(request, principal, run)


@router.post("/cases/{case_id}/consents", status_code=201)
async def give_consent(
    case_id: CaseId,
    body: ConsentIn,
    request: Request,
    principal: Writer,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
) -> Response:
    """Record informed consent of one person for one or more purposes."""

    async def run() -> JSONResponse:
        d = await commands_of(request).give_consent(
            case_id, body, principal, if_match, request.headers.get("traceparent")
        )
        return decision_response(request, d, 201)

    return await idempotent(request, principal, run)


@router.post("/cases/{case_id}/consents/{purpose}/withdrawal")
async def withdraw_consent(
    case_id: CaseId,
    purpose: Purpose,
    request: Request,
    principal: Writer,
    body: ConsentWithdrawalIn | None = None,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
) -> Response:
    """Withdraw a consent (for one person, or for everyone in the case); effective at once."""

    async def run() -> JSONResponse:
        d = await commands_of(request).withdraw_consent(
            case_id,
            purpose,
            body or ConsentWithdrawalIn(),
            principal,
            if_match,
            request.headers.get("traceparent"),
        )
        return decision_response(request, d)

    return await idempotent(request, principal, run)


@router.post("/cases/{case_id}/return-request", status_code=201)
async def request_return(
    case_id: CaseId,
    body: ReturnRequestIn,
    request: Request,
    principal: Writer,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
) -> Response:
    """Apply for assisted return; 422 naming the missing consent when one is missing."""

    async def run() -> JSONResponse:
        d = await commands_of(request).request_return(
            case_id, body, principal, if_match, request.headers.get("traceparent")
        )
        return decision_response(request, d, 201)

    return await idempotent(request, principal, run)


@router.post("/cases/{case_id}/withdrawal")
async def withdraw_case(
    case_id: CaseId,
    body: WithdrawalIn,
    request: Request,
    principal: Writer,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
) -> Response:
    """The person withdraws (possible at any moment before closure)."""

    async def run() -> JSONResponse:
        d = await commands_of(request).withdraw_case(
            case_id, body, principal, if_match, request.headers.get("traceparent")
        )
        return decision_response(request, d)

    return await idempotent(request, principal, run)


@router.post("/cases/{case_id}/erasure")
async def erase_personal_data(
    case_id: CaseId,
    request: Request,
    principal: Eraser,
    if_match: IfMatch = None,
    _key: IdempotencyKey = None,
) -> Response:
    """Crypto-shred the personal data of every person of the case (data protection officer)."""

    async def run() -> JSONResponse:
        d = await commands_of(request).erase_personal_data(
            case_id, principal, if_match, request.headers.get("traceparent")
        )
        return decision_response(request, d)

    return await idempotent(request, principal, run)


# ------------------------------------------------------------------ queries --


@router.get("/cases", summary="List and search cases")
async def list_cases(
    request: Request,
    _principal: Reader,
    office: Annotated[str | None, Query(max_length=100)] = None,
    status: Status | None = None,
    nationality: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    source: ReferralSource | None = None,
    referred_from: date | None = None,
    referred_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.db.engine.connect() as conn:
        rows, total = await read_models.search_cases(
            conn,
            office=office,
            status=status,
            nationality=nationality,
            source=source,
            referred_from=referred_from,
            referred_to=referred_to,
            limit=limit,
            offset=offset,
        )
    items = []
    for row in rows:
        name = await reveal(runtime.cipher, row.principal) if row.principal else None
        items.append(
            {
                "case_id": row.case_id,
                "version": row.version,
                "status": row.status,
                "office": row.office,
                "nationality": row.nationality,
                "host_country": row.host_country,
                "source": row.source,
                "household_size": row.household_size,
                "unaccompanied_minor": row.unaccompanied_minor,
                "possible_duplicate": row.possible_duplicate,
                "personal_data_erased": row.personal_data_erased,
                "referred_at": _utc(row.referred_at),
                "principal_name": _full_name(name),
            }
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/cases/{case_id}", name="get_case", summary="Case file (ETag = case version)")
async def get_case(case_id: CaseId, request: Request, _principal: Reader) -> JSONResponse:
    runtime = runtime_of(request)
    async with runtime.db.engine.connect() as conn:
        row = await read_models.case_row(conn, case_id)
        consent_rows = await read_models.consent_rows(conn, case_id)
    if row is None:
        raise NotFound(f"case {case_id} not found")
    doc: dict[str, Any] = await reveal(runtime.cipher, dict(row.detail))
    household = []
    for member in doc.pop("household"):
        member.pop("duplicate_key", None)
        personal = member.pop("personal")
        if personal == ERASED_MARKER:
            personal = {f: ERASED_MARKER for f in ("given_names", "family_name", "date_of_birth")}
        household.append({**member, **personal})
    doc.update(
        case_id=row.case_id,
        version=row.version,
        status=row.status,
        personal_data_erased=row.personal_data_erased,
        household=household,
        consents=[_consent(c) for c in consent_rows],
    )
    return JSONResponse(doc, headers={"ETag": etag(row.version)})


@router.get("/cases/{case_id}/consents", summary="Consent status per person and purpose")
async def case_consents(case_id: CaseId, request: Request, _principal: Reader) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.db.engine.connect() as conn:
        row = await read_models.case_row(conn, case_id)
        consent_rows = await read_models.consent_rows(conn, case_id)
    if row is None:
        raise NotFound(f"case {case_id} not found")
    return {"case_id": case_id, "consents": [_consent(c) for c in consent_rows]}


def _consent(row: Any) -> dict[str, Any]:
    return {
        "person_id": row.person_id,
        "purpose": row.purpose,
        "status": row.status,
        "given_on": row.given_on,
        "given_by": row.given_by,
        "language": row.language,
        "recorded_by": row.recorded_by,
        "withdrawn_at": _utc(row.withdrawn_at) if row.withdrawn_at else None,
    }


def _utc(moment: datetime) -> str:
    """ISO 8601 in UTC (SQLite hands timestamps back without their zone; they are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _full_name(personal: Any) -> str | None:
    if personal is None:
        return None
    if personal == ERASED_MARKER:
        return ERASED_MARKER
    return f"{personal.get('given_names', '')} {personal.get('family_name', '')}".strip()


async def reveal(cipher: PersonalDataCipher, value: Any) -> Any:
    """Decrypt every Encrypted value inside a JSON document; erased people read ``"erased"``."""
    if isinstance(value, dict):
        if set(value) == {"alg", "subject", "nonce", "ct"}:
            try:
                plain = await cipher.decrypt(Encrypted.model_validate(value))
            except ValidationError:
                return value
            return ERASED_MARKER if plain is ERASED else plain
        return {k: await reveal(cipher, v) for k, v in value.items()}
    if isinstance(value, list):
        return [await reveal(cipher, v) for v in value]
    return value
