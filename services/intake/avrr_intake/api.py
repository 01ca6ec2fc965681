"""Intake's REST API: commands (POST) and queries over the read models (GET).

Errors are problem+json (avrr_events.web.http). Every POST honours
Idempotency-Key; every command on an existing case honours If-Match (the
strong ETag ``"<version>"`` from GET /cases/{id} or from the previous
command's response) and answers 412 when it is stale. Command responses carry
ids and versions only, never personal data, because they are stored for
idempotent replay. Reads decrypt personal values per person and show
``"erased"`` for people whose keys were deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import ERASED, Database, Encrypted
from avrr_events.commands import CommandContext, CommandResult, Principal, etag
from avrr_events.personal import ERASED_MARKER
from avrr_events.places import COUNTRY_CODES
from avrr_events.problems import DomainRuleViolation, Forbidden, NotFound
from avrr_events.small_cells import min_households
from avrr_events.validation import InvalidValue
from avrr_events.web.authorization import (
    Authorized,
    Policy,
    Role,
    allow,
    ensure_office,
    may_see,
    visible_offices,
)
from avrr_events.web.commands import Command, CommandCall, service_commands
from avrr_events.web.http import invalid_field, takes_bodies_up_to
from avrr_events.web.paging import CasesPage, EntriesPage
from avrr_events.web.service import ServiceRuntime, runtime_of
from avrr_intake import (
    attachments,
    authorities,
    case_list,
    caseload,
    handover,
    read_models,
    reports,
    search,
    timeline,
    transfer,
)
from avrr_intake.case import Status
from avrr_intake.commands import (
    CASEWORK,
    NOT_A_COUNTRY,
    ClosureIn,
    ConsentIn,
    ConsentWithdrawalIn,
    CounsellingIn,
    HouseholdAdditionIn,
    HouseholdRemovalIn,
    IntakeCommands,
    NeedsIn,
    RectificationIn,
    ReferralIn,
    ReopeningIn,
    ReturnAmendmentIn,
    ReturnRequestIn,
    TransferAcceptanceIn,
    TransferRejectionIn,
    TransferRequestIn,
    WithdrawalIn,
    new_case_id,
)
from avrr_intake.consent import CONTACT_BY_PROGRAMME, Purpose
from avrr_intake.health import DECLARED_NEEDS, MEDICAL_DATA_PROCESSING
from avrr_intake.notes import IDENTITY_DOCUMENT
from avrr_intake.notices import N_, worded
from avrr_intake.referral import ReferralSource
from avrr_intake.refusals import case_not_found
from avrr_intake.settings import IntakeSettings
from avrr_intake.timeline import Phase

CASE_READERS = (*CASEWORK, Role.DATA_PROTECTION_OFFICER)
CONSENT_WITHDRAWN = "consent_withdrawn"  # shown instead of what a withdrawn consent covered
# Reports are aggregates without personal data: auditors read them too.
REPORT_READERS = (*CASE_READERS, Role.AUDITOR)
NEEDS_CONSENT_WITHDRAWN = "consent_withdrawn"  # instead of needs no longer consented to


async def case_offices(request: Request, case_id: str) -> frozenset[str] | None:
    """The offices a case belongs to (its referral's, and the receiving office once handed over)."""
    return await handover.case_offices(runtime_of(request).db, case_id)


# One rule per kind of access, read by every route that grants it.
WORK = allow(*CASEWORK, scope="case")
READ = allow(*CASE_READERS, scope="case")
REPORTS = allow(*REPORT_READERS, scope="office")
# A copy of an identity document is downloaded by fewer people than read the case: its
# supervisors and the data protection officer (a person's access request), checked in the
# route (the kind is the file's); the list of files names it to every case reader.
IDENTITY_DOCUMENT_READERS = (Role.SUPERVISOR, Role.DATA_PROTECTION_OFFICER)
INCOMING_READERS = (*CASEWORK, Role.REINTEGRATION_OFFICER)

POLICY = Policy(
    {
        # The referral's office must be one of the caller's (checked in the route).
        "POST /referrals": allow(Role.REFERRER, *CASEWORK, scope="handler"),
        # Each row's office must be one of the caller's (checked per row: rejected otherwise).
        "POST /caseload-imports": allow(Role.SUPERVISOR, scope="handler"),
        "GET /referrals/{case_id}": allow(Role.REFERRER, scope="own"),
        "POST /cases/{case_id}/counselling-sessions": WORK,
        "POST /cases/{case_id}/consents": WORK,
        "POST /cases/{case_id}/consents/{purpose}/withdrawal": WORK,
        "POST /cases/{case_id}/return-request": WORK,
        # Before clearance only (409 after): eligibility re-assesses, travel follows.
        "POST /cases/{case_id}/return-request/amendments": WORK,
        # Before departure only (409 after): eligibility, then travel, follow.
        "POST /cases/{case_id}/household/removals": WORK,
        # Before clearance only (409 after): eligibility screens the new member.
        "POST /cases/{case_id}/household/additions": WORK,
        # The right to rectification: casework, or the data protection officer who
        # handles the person's request.
        "POST /cases/{case_id}/rectifications": allow(
            *CASEWORK, Role.DATA_PROTECTION_OFFICER, scope="case"
        ),
        "POST /cases/{case_id}/withdrawal": WORK,
        "POST /cases/{case_id}/closure": WORK,
        "POST /cases/{case_id}/reopening": WORK,
        # Transfers (transfer.py): asked by the office holding the case (checked by the
        # command), answered by a supervisor of the receiving office, which does not see the
        # case yet: the command admits the two offices of the request and the case's, 403 for
        # any other, and only the receiving office itself answers (not headquarters' "*").
        "POST /cases/{case_id}/transfers": WORK,
        "POST /cases/{case_id}/transfers/{transfer_id}/acceptance": allow(
            Role.SUPERVISOR, scope="handler"
        ),
        "POST /cases/{case_id}/transfers/{transfer_id}/rejection": allow(
            Role.SUPERVISOR, scope="handler"
        ),
        "GET /transfers": allow(*CASEWORK, scope="office"),
        "POST /cases/{case_id}/erasure": allow(Role.DATA_PROTECTION_OFFICER, scope="case"),
        # Health data: recorded by casework or medical staff once the person consented to
        # medical_data_processing (checked by the case), read by the medical role only.
        "POST /cases/{case_id}/declared-needs": allow(*CASEWORK, Role.MEDICAL, scope="case"),
        "GET /cases/{case_id}/declared-needs": allow(Role.MEDICAL, scope="case"),
        # People of the caller's offices' cases referred again at another office.
        "GET /duplicate-alerts": allow(Role.SUPERVISOR, scope="office"),
        "POST /demo": allow(*CASEWORK, Role.ADMIN),
        "GET /cases": allow(*CASE_READERS, scope="office"),
        # Terms in the body, never in the URL; audited with the fields used and the cases found.
        "POST /people/search": allow(*CASE_READERS, scope="office"),
        # Ticketed movements to the countries the caller's offices receive in, with the needs
        # the travellers consented to share with reintegration: the staff who receive them.
        "GET /incoming": allow(*INCOMING_READERS, scope="office"),
        "GET /cases/{case_id}": READ,
        "GET /cases/{case_id}/consents": READ,
        "GET /cases/{case_id}/timeline": READ,
        "GET /cases/{case_id}/state": READ,
        # Notes and files about the case's people: written by casework of the case's offices,
        # read by its readers; identity documents downloaded by IDENTITY_DOCUMENT_READERS.
        "POST /cases/{case_id}/notes": WORK,
        "GET /cases/{case_id}/notes": READ,
        "POST /cases/{case_id}/attachments": WORK,
        "GET /cases/{case_id}/attachments": READ,
        "GET /cases/{case_id}/attachments/{attachment_id}": READ,
        # Aggregates without personal data, of the caller's offices only (headquarters: all);
        # outside headquarters small cells are suppressed (avrr_events.small_cells).
        "GET /reports/returns": REPORTS,
        "GET /reports/returns.svg": REPORTS,
        "GET /reports/phases": REPORTS,
        "GET /reports/assistance": REPORTS,
        "GET /reports/withdrawals": REPORTS,
        # A government system; the record's country must be in its token (checked in the route).
        "GET /public/disclosure-keys/{key_id}": allow(Role.AUTHORITY, scope="handler"),
    },
    case_offices=case_offices,
)

router = APIRouter(tags=["intake"])


def _country(code: str | None) -> str | None:
    if code is not None and code not in COUNTRY_CODES:
        raise InvalidValue(NOT_A_COUNTRY)
    return code


# The list filters' query parameters (none is personal data).
Country = Annotated[
    str | None,
    Query(pattern=r"^[A-Z]{2}$", json_schema_extra={"enum": list(COUNTRY_CODES)}),
    AfterValidator(_country),
]
Region = Annotated[str | None, Query(max_length=100, description="any spelling; needs its country")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=500,
        description="the next_cursor a page of this list gave (any other: 422); not with offset",
    ),
]

CaseId = Annotated[str, Path(max_length=100)]
TransferId = Annotated[str, Path(max_length=100)]


# Intake's command object, built once per runtime (``Service(commands=...)``, main.py).
Cases = Annotated[IntakeCommands, Depends(service_commands)]


CaseRun = Callable[[IntakeCommands, CommandContext], Awaitable[CommandResult]]


@dataclass(frozen=True)
class CaseCommand:
    """A command on one case by intake's command object; its result is read at the case file."""

    command: CommandCall
    cases: IntakeCommands

    async def __call__(self, case_id: str, run: CaseRun) -> Response:
        return await self.command.on_case(case_id, lambda ctx: run(self.cases, ctx))


def case_command(command: Command, cases: Cases) -> CaseCommand:
    return CaseCommand(command, cases)


OnCase = Annotated[CaseCommand, Depends(case_command)]


def note_commands(request: Request) -> attachments.NoteCommands | None:
    """The notes and attachments commands, with the attachment limit as configured now
    (None on an app without a runtime: see ``service_commands``)."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return None
    settings = IntakeSettings()
    objects = attachments.object_store(settings)
    return attachments.NoteCommands(runtime, settings.attachment_max_bytes, objects)


Notes = Annotated[attachments.NoteCommands, Depends(note_commands)]


# ----------------------------------------------------------------- commands --


@router.post("/referrals", status_code=201, summary="Receive a referral (opens a case)")
async def receive_referral(body: ReferralIn, on_case: OnCase) -> Response:
    ensure_office(on_case.command.context.principal, body.office)
    case_id = new_case_id()
    return await on_case(case_id, lambda cases, ctx: cases.receive_referral(case_id, body, ctx))


@router.get("/referrals/{case_id}", summary="The status of a referral you submitted")
async def referral_status(case_id: CaseId, request: Request, principal: Authorized) -> Any:
    """What a referring partner may know of its own referral: that it is in hand, and its status.

    "Own" is the user id recorded on the referral (``received_by``); another
    partner's referral, or a case that does not exist, is the same 404.
    """
    async with runtime_of(request).db.autocommit() as conn:
        row = await read_models.case_row(conn, case_id)
    if row is None or row.detail.get("received_by") != principal.user_id:
        raise NotFound(wording=worded(N_("you submitted no referral %(case)s"), case=case_id))
    return {"case_id": case_id, "status": row.status, "referred_at": _utc(row.referred_at)}


@router.post("/cases/{case_id}/counselling-sessions", status_code=201)
async def record_counselling(case_id: CaseId, body: CounsellingIn, on_case: OnCase) -> Response:
    """Record a counselling session; the outcome decided_not_to_apply closes the case."""
    return await on_case(case_id, lambda cases, ctx: cases.record_counselling(case_id, body, ctx))


@router.post("/cases/{case_id}/consents", status_code=201)
async def give_consent(case_id: CaseId, body: ConsentIn, on_case: OnCase) -> Response:
    """Record informed consent of one person for one or more purposes."""
    return await on_case(case_id, lambda cases, ctx: cases.give_consent(case_id, body, ctx))


@router.post("/cases/{case_id}/consents/{purpose}/withdrawal")
async def withdraw_consent(
    case_id: CaseId, purpose: Purpose, body: ConsentWithdrawalIn, on_case: OnCase
) -> Response:
    """Withdraw a consent (for one person, or for everyone in the case) with its reason;
    effective at once. Withdrawing one the return needs suspends a requested return
    (status ``suspended_by_consent``): giving it again resumes it, or the case is closed."""
    return await on_case(
        case_id, lambda cases, ctx: cases.withdraw_consent(case_id, purpose, body, ctx)
    )


@router.post("/cases/{case_id}/return-request", status_code=201)
async def request_return(case_id: CaseId, body: ReturnRequestIn, on_case: OnCase) -> Response:
    """Apply for assisted return; 422 naming the missing consent when one is missing."""
    return await on_case(case_id, lambda cases, ctx: cases.request_return(case_id, body, ctx))


@router.post("/cases/{case_id}/return-request/amendments", status_code=201)
async def amend_return_request(
    case_id: CaseId, body: ReturnAmendmentIn, on_case: OnCase
) -> Response:
    """Change the destination or programme of a requested return, with the reason: 409 once
    the return was cleared for travel. Eligibility re-assesses the request; a clearance that
    raced with the change wins there, and the case then records ReturnAmendmentRefused."""
    return await on_case(case_id, lambda cases, ctx: cases.amend_return_request(case_id, body, ctx))


@router.post("/cases/{case_id}/household/removals", status_code=201)
async def remove_household_member(
    case_id: CaseId, body: HouseholdRemovalIn, on_case: OnCase
) -> Response:
    """A person leaves the household before departure, with the reason: never the principal,
    nor the last adult of children (422); 409 once the household departed. Eligibility decides
    again without them, or travel takes them off the movement; a departure that raced with the
    removal wins there, and the case then records HouseholdMemberRestored."""
    return await on_case(
        case_id, lambda cases, ctx: cases.remove_household_member(case_id, body, ctx)
    )


@router.post("/cases/{case_id}/household/additions", status_code=201)
async def add_household_member(
    case_id: CaseId, body: HouseholdAdditionIn, on_case: OnCase
) -> Response:
    """A person joins the household before departure, with the reason and their personal data
    as at the referral (encrypted under their own key): never a second principal, never past 30
    people, never an adult into an unaccompanied child's case (422); once the return was
    requested, with their consent to it (422 naming consent); 409 once the household departed.
    Eligibility puts them on the request and decides again; after clearance the clearance
    lapses, for the household to be cleared and ticketed again with them. A departure that
    raced with the addition wins in travel, and the case then records
    HouseholdAdditionReversed. Answers the new person_id."""
    return await on_case(case_id, lambda cases, ctx: cases.add_household_member(case_id, body, ctx))


@router.post("/cases/{case_id}/rectifications", status_code=201)
async def rectify_personal_data(
    case_id: CaseId, body: RectificationIn, on_case: OnCase
) -> Response:
    """Correct a person's name, date of birth or identity document, with the reason; the
    event names the fields corrected, never their values (encrypted under the person's key)."""
    return await on_case(
        case_id, lambda cases, ctx: cases.rectify_personal_data(case_id, body, ctx)
    )


@router.post("/cases/{case_id}/withdrawal")
async def withdraw_case(case_id: CaseId, body: WithdrawalIn, on_case: OnCase) -> Response:
    """The person withdraws (possible at any moment before closure)."""
    return await on_case(case_id, lambda cases, ctx: cases.withdraw_case(case_id, body, ctx))


@router.post("/cases/{case_id}/closure")
async def close_case(case_id: CaseId, body: ClosureIn, on_case: OnCase) -> Response:
    """Close a case that is open (no return requested) or whose return is suspended by a
    withdrawn consent; a requested return is withdrawn instead (409 names the status)."""
    return await on_case(case_id, lambda cases, ctx: cases.close_case(case_id, body, ctx))


@router.post("/cases/{case_id}/reopening")
async def reopen_case(case_id: CaseId, body: ReopeningIn, on_case: OnCase) -> Response:
    """Reopen a withdrawn or closed case: the person came back and consents again (``consent``,
    its purposes including return_assistance_processing). Same case, one history; the
    consents given before lapse, each is asked again. 422 for an erased case."""
    return await on_case(case_id, lambda cases, ctx: cases.reopen_case(case_id, body, ctx))


@router.post("/cases/{case_id}/transfers", status_code=201)
async def request_transfer(case_id: CaseId, body: TransferRequestIn, on_case: OnCase) -> Response:
    """Ask another office to take the case over (by the office holding it). It has 7 days to
    accept or reject; 409 while another request awaits its answer."""
    return await on_case(case_id, lambda cases, ctx: cases.request_transfer(case_id, body, ctx))


@router.post("/cases/{case_id}/transfers/{transfer_id}/acceptance")
async def accept_transfer(
    case_id: CaseId, transfer_id: TransferId, body: TransferAcceptanceIn, on_case: OnCase
) -> Response:
    """The receiving office takes the case over (from now on it is its case); 409 once the
    request was answered or its 7 days passed; 403 for any office but the receiving one."""
    return await on_case(
        case_id, lambda cases, ctx: cases.answer_transfer(case_id, transfer_id, body, ctx)
    )


@router.post("/cases/{case_id}/transfers/{transfer_id}/rejection")
async def reject_transfer(
    case_id: CaseId, transfer_id: TransferId, body: TransferRejectionIn, on_case: OnCase
) -> Response:
    """The receiving office declines, with its reason: the case stays where it is."""
    return await on_case(
        case_id, lambda cases, ctx: cases.answer_transfer(case_id, transfer_id, body, ctx)
    )


@router.post("/cases/{case_id}/erasure")
async def erase_personal_data(case_id: CaseId, on_case: OnCase) -> Response:
    """Crypto-shred the personal data of every person of the case (data protection officer)."""
    return await on_case(case_id, lambda cases, ctx: cases.erase_personal_data(case_id, ctx))


@router.post("/cases/{case_id}/declared-needs", status_code=201)
async def declare_needs(case_id: CaseId, body: NeedsIn, on_case: OnCase) -> Response:
    """Record a person's declared needs (health data): 422 naming ``declared_needs`` unless
    their consent to medical_data_processing was given and stands."""
    return await on_case(case_id, lambda cases, ctx: cases.declare_needs(case_id, body, ctx))


@router.get("/cases/{case_id}/declared-needs", summary="Declared needs (medical role only)")
async def declared_needs(case_id: CaseId, request: Request, _principal: Authorized) -> Any:
    """Every declaration of needs of the case, decrypted; a person whose consent to
    medical_data_processing is withdrawn reads ``consent_withdrawn``, an erased one ``erased``.
    Needs recorded on a referral before declarations existed are listed as ``referral``."""
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        row, consent_rows = await _case_and_consents(conn, case_id)
    # As the case's stream has it now, for the reason _contact_withdrawn gives: health data
    # is no longer decrypted from a withdrawal's answer on, not from the read model's; and
    # again from a consent given since on (withdrawn now, not in either).
    medical = await case_list.case_consents(
        case_id, row.version, consent_rows, MEDICAL_DATA_PROCESSING, runtime.commands.repo
    )
    withdrawn = {person for person, status in medical.now.items() if status == "withdrawn"}
    detail = row.detail
    found: list[tuple[str, str, Any, Any]] = []
    if detail.get("declared_needs"):
        principal = next(p for p in detail["household"] if p["relationship"] == "principal")
        found.append(
            ("referral", principal["person_id"], detail["declared_needs"], detail["received_at"])
        )
    for d in detail.get("needs_declared", []):
        found.append(("declaration", d["person_id"], d["declared_needs"], d["declared_at"]))
    items = []
    for source, person_id, sealed, at in found:
        if person_id in withdrawn:
            needs: Any = NEEDS_CONSENT_WITHDRAWN  # no longer processed, not even decrypted
        else:
            needs = await runtime.cipher.decrypt_for_purpose(
                Encrypted.model_validate(sealed), case_id=case_id, field=DECLARED_NEEDS
            )
            needs = ERASED_MARKER if needs is ERASED else needs
        items.append(
            {"source": source, "person_id": person_id, "declared_needs": needs, "declared_at": at}
        )
    return {"case_id": case_id, "declarations": items}


@router.get("/duplicate-alerts", summary="People of your cases referred again at another office")
async def duplicate_alerts(
    *,  # the page, a dependency, comes last: after parameters with defaults
    request: Request,
    principal: Authorized,
    office: Annotated[str | None, Query(max_length=100)] = None,
    page: CasesPage,
) -> dict[str, Any]:
    """For supervisors: a person of a case of your offices looks like someone referred at an
    office that does not see the case. Neither office learns the other's case or person id:
    check with the person, or through headquarters."""
    offices = visible_offices(principal)
    async with runtime_of(request).db.autocommit() as conn:
        rows, total = await read_models.duplicate_alert_rows(
            conn,
            visible=None if offices is None else handover.belongs_to(offices),
            office=office,
            limit=page.limit,
            offset=page.offset,
        )
    items = [
        {
            "case_id": r.case_id,
            "person_id": r.person_id,
            "office": r.office,
            "case_status": r.status,
            "referrals_elsewhere": r.referrals,
            "last_flagged_at": _utc(r.last_flagged_at),
        }
        for r in rows
    ]
    return page.answer(items, total)


@router.post(
    "/caseload-imports",
    summary="Import a caseload spreadsheet (CSV or XLSX)",
    openapi_extra=caseload.UPLOAD_OPENAPI,
)
async def import_caseload(
    request: Request, response: Response, principal: Authorized
) -> caseload.CaseloadImported:
    """Each row of the file (docs/import.md) through the referral, consent and return-request
    commands, as the caller; every row's outcome, a rejected one's reason naming its column."""
    return await caseload.import_upload(runtime_of(request), request, response, principal)


@router.post("/demo", status_code=201, include_in_schema=False)
async def load_demo_data(request: Request, _principal: Authorized) -> dict[str, Any]:
    """Development only (AVRR_DEV=1, as `make run` sets): demo cases through the real APIs.

    Calls the platform's own REST APIs at the URL it was reached on, so it
    needs every service mounted on that root, as the embedded default does. httpx and the
    demo are imported here, not with the API: ~3 MB of every intake process's memory (issue
    21) for a route only development uses.
    """
    import httpx

    from avrr_intake.demo import Demo, DemoFailed

    if not runtime_of(request).settings.dev:
        raise NotFound(wording=worded(N_("not found")))
    root_path = request.scope.get("root_path", "")
    root = str(request.base_url).rstrip("/").removesuffix(root_path)
    async with httpx.AsyncClient(base_url=root, timeout=30) as client:
        try:
            cases = await Demo(client).load()
        except DemoFailed as exc:
            raise DomainRuleViolation(
                wording=worded(N_("demo data could not be loaded: %(cause)s"), cause=str(exc))
            ) from exc
    return {"cases": cases}


# --------------------------------------------------------- notes and files --


@router.post("/cases/{case_id}/notes", status_code=201, summary="Write a note about a person")
async def add_note(
    case_id: CaseId, body: attachments.NoteIn, command: Command, notes: Notes
) -> Response:
    """A note about one person of the case, under their key (gone with them at erasure); the
    timeline says only that it was written. 422 naming ``person_id`` for someone else."""
    return await command.on_case(case_id, lambda ctx: notes.add_note(case_id, body, ctx))


@router.post(
    "/cases/{case_id}/attachments",
    status_code=201,
    summary="Attach a file about a person (PDF, PNG or JPEG)",
    openapi_extra=attachments.UPLOAD_OPENAPI,
)
@takes_bodies_up_to(attachments.upload_body_limit)
async def attach_file(
    case_id: CaseId, request: Request, command: Command, notes: Notes
) -> Response:
    """multipart/form-data: ``person_id``, ``kind`` and ``file``. The file is taken by what its
    bytes are (422 naming ``file`` otherwise, or when its name says another type), up to
    AVRR_ATTACHMENT_MAX_BYTES (413), and rests sealed under the person's key."""
    upload = await attachments.read_upload(request)
    return await command.on_case(case_id, lambda ctx: notes.attach(case_id, upload, ctx))


@router.get("/cases/{case_id}/notes", summary="The notes of a case")
async def case_notes(case_id: CaseId, request: Request, _principal: Authorized) -> Any:
    """Every note, oldest first; an erased person's notes are gone."""
    items = await _case_rows(request, case_id, attachments.note_rows, sealed="text")
    return {"case_id": case_id, "notes": items}


@router.get("/cases/{case_id}/attachments", summary="The files of a case (without their bytes)")
async def case_attachments(case_id: CaseId, request: Request, _principal: Authorized) -> Any:
    items = await _case_rows(request, case_id, attachments.attachment_rows, sealed="file_name")
    return {"case_id": case_id, "attachments": items}


async def _case_rows(
    request: Request,
    case_id: str,
    rows_of: Callable[[AsyncConnection, str], Awaitable[list[Any]]],
    *,
    sealed: str,
) -> list[dict[str, Any]]:
    """A case's notes or files as listed (404 for a case intake does not know): the columns
    ``rows_of`` reads, in its order, but the case id (the body names it once); ``sealed``
    revealed (gone for an erased person) and ``added_at`` in UTC."""
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        await _case_and_consents(conn, case_id)
        rows = await rows_of(conn, case_id)
    items = []
    for r in rows:
        item = {name: value for name, value in r._asdict().items() if name != "case_id"}
        item[sealed] = await runtime.cipher.reveal(item[sealed])
        item["added_at"] = _utc(item["added_at"])
        items.append(item)
    return items


@router.get(
    "/cases/{case_id}/attachments/{attachment_id}",
    summary="Download a file (audited; identity documents: supervisors and the DPO only)",
    response_class=Response,
    responses={200: {"content": {t: {} for t in attachments.ALLOWED_TYPES}}},
)
async def download_attachment(
    case_id: CaseId,
    attachment_id: Annotated[str, Path(max_length=100)],
    request: Request,
    principal: Authorized,
    notes: Notes,
) -> Response:
    """The file's bytes, decrypted for this answer only (``Cache-Control: no-store``)."""
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        row = await attachments.attachment_row(conn, case_id, attachment_id)
    if row.kind == IDENTITY_DOCUMENT and not principal.has_any_role(IDENTITY_DOCUMENT_READERS):
        raise Forbidden(
            wording=worded(N_("a copy of an identity document is for supervisors and the DPO only"))
        )
    data = await attachments.open_file(runtime.cipher, row, notes.objects)
    if data is ERASED:
        raise attachments.no_attachment(case_id, attachment_id)
    assert isinstance(data, bytes)
    extension = attachments.ALLOWED_TYPES[row.content_type][0]
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Cache-Control": "no-store",
            # Never the uploaded name (personal data in a header, in proxies' logs).
            "Content-Disposition": f'attachment; filename="{attachment_id}{extension}"',
        },
    )


# ------------------------------------------------------------------ queries --


@router.get("/cases", summary="List cases: by phase, office, programme, destination, dates")
async def list_cases(
    *,  # the page, a dependency, comes last: after parameters with defaults
    request: Request,
    principal: Authorized,
    office: Annotated[str | None, Query(max_length=100)] = None,
    status: Status | None = None,
    nationality: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    source: ReferralSource | None = None,
    referred_from: date | None = None,
    referred_to: date | None = None,
    phase: Phase | None = None,
    programme: Annotated[str | None, Query(max_length=100)] = None,
    destination_country: Country = None,
    destination_region: Region = None,
    vulnerability: Annotated[str | None, Query(pattern=r"^[a-z][a-z_]{0,59}$")] = None,
    departure_from: date | None = None,
    departure_to: date | None = None,
    cursor: Cursor = None,
    page: CasesPage,
) -> dict[str, Any]:
    """Only cases of the caller's offices (or handed over to them), newest referral first.

    ``phase`` is the furthest the case reached in any service (as ``GET /reports/phases``
    counts it), the destination the one requested or cleared. Filters are query parameters:
    none is personal data (names are searched in a request body). Page with ``next_cursor``
    (stable while cases arrive) or with ``offset``, not both.

    ``total`` counts the matching cases up to 1,000: past that it is 1,000 and
    ``total_is_lower_bound`` is true ("at least 1,000": narrow the filters), so that a page
    over a million cases costs the page, not a count of every match."""
    if cursor is not None and page.offset:
        raise invalid_field(
            "cursor", worded(N_("page with cursor or with offset, not both")), where="query"
        )
    filters = case_list.CaseFilters(
        office=office,
        status=status,
        nationality=nationality,
        source=source,
        phase=phase,
        programme=programme,
        destination_country=destination_country,
        destination_region=destination_region,
        vulnerability=vulnerability,
        referred_from=referred_from,
        referred_to=referred_to,
        departure_from=departure_from,
        departure_to=departure_to,
    )
    runtime = runtime_of(request)
    offices = visible_offices(principal)
    async with runtime.db.autocommit() as conn:
        found = await case_list.cases(
            conn,
            filters,
            offices=offices,
            limit=page.limit,
            offset=page.offset,
            cursor=cursor,
        )
    items = []
    for row in found.rows:
        name = await runtime.cipher.reveal(row.principal) if row.principal else None
        items.append(
            {
                "case_id": row.case_id,
                "version": row.version,
                "status": row.status,
                "phase": row.phase,
                "office": row.office,
                "nationality": row.nationality,
                "host_country": row.host_country,
                "destination_country": row.destination_country,
                "destination_region": row.destination_region,
                "programme_id": row.programme_id,
                "departure_date": row.departure_date,
                "source": row.source,
                "household_size": row.household_size,
                "unaccompanied_minor": row.unaccompanied_minor,
                "possible_duplicate": row.possible_duplicate,
                "personal_data_erased": row.personal_data_erased,
                "referred_at": _utc(row.referred_at),
                "principal_name": _full_name(name),
            }
        )
    return page.answer(items, found.total) | {
        "total_is_lower_bound": found.total_is_lower_bound,
        "next_cursor": found.next_cursor,
    }


@router.get("/incoming", summary="Ticketed movements coming to your offices' countries")
async def incoming_movements(
    request: Request,
    principal: Authorized,
    office: Annotated[str | None, Query(max_length=100)] = None,
    destination_country: Country = None,
    destination_region: Region = None,
    departure_from: date | None = None,
    departure_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """For the offices of the destination country (a receiving office, or a host office
    receiving its own nationals): each ticketed movement still coming, earliest departure
    first, with its expected arrival (the ticket's departure date), household size and the
    needs flagged for reintegration of the travellers who consented to share them
    (``share_with_reintegration_partners``); no name. ``office``: one of yours; without it,
    all of yours (headquarters: every country)."""
    runtime = runtime_of(request)
    offices = visible_offices(principal) if office is None else frozenset({office})
    countries = None if offices is None else case_list.receiving_countries(runtime.offices, offices)
    if destination_country is not None:
        asked = frozenset({destination_country})
        countries = asked if countries is None else countries & asked
    named = None if destination_country is None else [destination_country]
    region = case_list.region_key(named or countries, destination_region)
    async with runtime.db.autocommit() as conn:
        found = await case_list.incoming(
            conn,
            countries=countries,
            destination_region=region,
            departure_from=departure_from,
            departure_to=departure_to,
            limit=limit,
            cursor=cursor,
        )
        # Whose needs are shared follows the consent as it stands now (a withdrawal answered
        # a moment ago included), not only the read model's copy of it.
        consents = await case_list.sharing_consents(
            conn, [r.case_id for r in found.rows], runtime.commands.repo
        )
    items = [case_list.arrival(r, consents.get(r.case_id, set())) for r in found.rows]
    return {"items": items, "total": found.total, "limit": limit, "next_cursor": found.next_cursor}


@router.get("/transfers", summary="Transfers to (incoming) or from (outgoing) your offices")
async def list_transfers(
    request: Request,
    principal: Authorized,
    direction: Literal["incoming", "outgoing", "both"] = "incoming",
    status: transfer.TransferStatus | None = None,
    office: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, json_schema_extra={"maximum": 2**63 - 1})] = 0,
) -> dict[str, Any]:
    """The receiving office's list of requests to answer (``status=requested``), and what
    became of each: ids, offices, coded reason and dates, no personal data."""
    offices = frozenset({office}) if office is not None else visible_offices(principal)
    async with runtime_of(request).db.autocommit() as conn:
        rows, total = await transfer.transfer_rows(
            conn, offices=offices, direction=direction, status=status, limit=limit, offset=offset
        )
    items = [
        {
            "transfer_id": r.transfer_id,
            "case_id": r.case_id,
            "from_office": r.from_office,
            "to_office": r.to_office,
            "reason": r.reason,
            "status": r.status,
            "requested_at": _utc(r.requested_at),
            "expires_at": _utc(r.expires_at),
            "answered_at": _utc(r.answered_at) if r.answered_at else None,
        }
        for r in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/people/search", summary="Find people by name, birth date, document or phone")
async def search_people(
    body: search.PeopleSearchIn,
    request: Request,
    principal: Authorized,
    cases: Cases,
    office: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> dict[str, Any]:
    """People of the cases of your offices who match every term given, best match first:
    names tolerate case, accents, compound names, particles and Spanish or Portuguese
    spelling variants. The terms are in the body (never in a URL) and never stored or logged:
    the search is compared over keyed tokens, and audited with the fields used."""
    client = request.client.host if request.client else None
    return await search.search_people(
        runtime_of(request),
        principal,
        body,
        key=search.key_of(cases.secret),
        office=office,
        limit=limit,
        offset=offset,
        client=client,
    )


@router.get("/cases/{case_id}", name="get_case", summary="Case file (ETag = case version)")
async def get_case(case_id: CaseId, request: Request, principal: Authorized) -> JSONResponse:
    runtime = runtime_of(request)
    # On the database, not a checked-out connection: each read runs on a parked driver
    # connection, without SQLAlchemy's pool checkout and close (docs/benchmarks.md).
    row, consent_rows = await _case_and_consents(runtime.db, case_id)
    duplicates = await _duplicates_seen_by(runtime.db, principal, row.detail)
    detail = dict(row.detail)
    # Health data is the medical role's, through GET /cases/{case_id}/declared-needs.
    for health in ("declared_needs", "needs_declared"):
        detail.pop(health, None)
    detail.update(duplicates)
    doc: dict[str, Any] = await runtime.cipher.reveal(detail)
    household = []
    for member in doc.pop("household"):
        member.pop("duplicate_key", None)
        personal = member.pop("personal")
        if personal == ERASED_MARKER:
            personal = {f: ERASED_MARKER for f in ("given_names", "family_name", "date_of_birth")}
        household.append({**member, **personal})
    if doc.get("contact") is not None and await _contact_withdrawn(
        runtime, row, household, consent_rows
    ):
        # Without consent to be contacted, nobody at the programme reads how to reach them.
        doc["contact"] = CONSENT_WITHDRAWN
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
async def case_consents(
    case_id: CaseId, request: Request, _principal: Authorized
) -> dict[str, Any]:
    async with runtime_of(request).db.autocommit() as conn:
        _row, consent_rows = await _case_and_consents(conn, case_id)
    return {"case_id": case_id, "consents": [_consent(c) for c in consent_rows]}


async def _case_and_consents(
    conn: AsyncConnection | Database, case_id: str
) -> tuple[Any, list[Any]]:
    """The case's row and its consents' rows: 404 for a case that does not exist."""
    row = await read_models.case_row(conn, case_id)
    if row is None:
        raise case_not_found(case_id)
    return row, await read_models.consent_rows(conn, case_id)


@router.get("/cases/{case_id}/timeline", summary="Everything that happened to a case, everywhere")
async def case_timeline(
    case_id: CaseId,
    request: Request,
    _principal: Authorized,
    page: EntriesPage,
) -> dict[str, Any]:
    """Every event of the case from every service, by event time then arrival; no personal data."""
    async with runtime_of(request).db.autocommit() as conn:
        rows, total = await timeline.entries(conn, case_id, limit=page.limit, offset=page.offset)
    if total == 0:
        raise NotFound(wording=worded(N_("case %(case)s has no timeline"), case=case_id))
    items = [
        {
            "at": _utc(r.occurred_at),
            "service": r.service,
            "type": r.event_type,
            "actor": r.actor,
            "summary": r.summary,
            "event_id": r.event_id,
            "facts": r.facts,
        }
        for r in rows
    ]
    return page.answer(items, total, case_id=case_id)


@router.get("/cases/{case_id}/state", summary="The case as it was at a given moment")
async def case_state(
    case_id: CaseId,
    request: Request,
    _principal: Authorized,
    as_of: Annotated[
        datetime | None,
        Query(description="ISO 8601; without a zone it is UTC; absent: now"),
    ] = None,
) -> dict[str, Any]:
    """Time travel: the timeline folded up to ``as_of`` (phase and non-personal facts)."""
    moment = timeline.utc(as_of) if as_of is not None else datetime.now(UTC)
    async with runtime_of(request).db.autocommit() as conn:
        state = await timeline.state_as_of(conn, case_id, moment)
    if state is None:
        raise NotFound(
            wording=worded(
                N_("nothing had happened to case %(case)s by %(moment)s"),
                case=case_id,
                moment=moment.isoformat(),
            )
        )
    return {"case_id": case_id, "as_of": moment.isoformat(), **state.public()}


@router.get(
    "/public/disclosure-keys/{key_id}",
    summary="The key that opens a public record's consented fields (government systems)",
)
async def disclosure_key(
    key_id: Annotated[str, Path(max_length=300)],
    request: Request,
    principal: Authorized,
) -> JSONResponse:
    """For the ``authority`` of the record's country (``offices`` claim = its ISO code), only
    while the person's consent to share stands and their data exists (else 410); audited."""
    client = request.client.host if request.client else None
    key = await authorities.release_key(runtime_of(request), principal, key_id, client)
    return JSONResponse(key, headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------- reports --

Format = Annotated[
    str | None, Query(alias="format", pattern="^(json|csv)$", description="or Accept: text/csv")
]


Office = Annotated[str | None, Query(max_length=100)]


From = Annotated[date | None, Query(description="on or after this day (UTC)")]
To = Annotated[
    date | None,
    Query(description="on or before this day (UTC); not before the period's start (422 naming it)"),
]


def report_period(
    returned_from: From = None,
    returned_to: To = None,
    referred_from: From = None,
    referred_to: To = None,
) -> reports.Period:
    """The period a report covers (a month, a year: both ends included; none: all time);
    422 naming ``returned_to`` or ``referred_to`` when it falls before its start."""
    return reports.Period(returned_from, returned_to, referred_from, referred_to)


Period = Annotated[reports.Period, Depends(report_period)]


@dataclass(frozen=True)
class ReportReader:
    """Who reads a report: the offices they see (None: headquarters), the office asked for,
    and whether they want CSV (``?format=csv`` or ``Accept: text/csv``)."""

    runtime: ServiceRuntime
    offices: frozenset[str] | None
    office: str | None
    csv: bool
    period: reports.Period

    async def read(self, query: reports.Query, suppress: reports.Suppress) -> reports.Report:
        """The report of the reader's offices and period; outside headquarters small cells
        suppressed."""
        async with self.runtime.db.autocommit() as conn:
            report = await query(conn, office=self.office, offices=self.offices, period=self.period)
        return report if self.offices is None else suppress(report, min_households())

    async def answer(
        self, query: reports.Query, suppress: reports.Suppress, as_csv: reports.Csv, name: str
    ) -> Response:
        report = await self.read(query, suppress)
        if not self.csv:
            return JSONResponse(report)
        return Response(
            as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )


def report_reader(
    request: Request,
    principal: Authorized,
    period: Period,
    office: Office = None,
    fmt: Format = None,
) -> ReportReader:
    wants_csv = fmt == "csv" if fmt is not None else "text/csv" in request.headers.get("accept", "")
    offices = visible_offices(principal)
    return ReportReader(runtime_of(request), offices, office, wants_csv, period)


Reader = Annotated[ReportReader, Depends(report_reader)]


@router.get("/reports/returns", summary="Returns by host country, origin, programme, month, ...")
async def report_returns(
    reader: Reader, by: Annotated[list[reports.Dimension] | None, Query()] = None
) -> Response:
    """Cases with arrival confirmed and their returnees, along each dimension (all by default);
    of the caller's offices, small cells suppressed, outside headquarters."""
    returns = partial(reports.returns, by=by or reports.DIMENSIONS)
    return await reader.answer(returns, reports.suppress_returns, reports.returns_csv, "returns")


@router.get("/reports/returns.svg", summary="Chart: returns per month and per country of origin")
async def report_returns_chart(
    request: Request, principal: Authorized, period: Period, office: Office = None
) -> Response:
    returns = partial(reports.returns, by=("month", "origin_country"))
    reader = report_reader(request, principal, period, office)
    report = await reader.read(returns, reports.suppress_returns)
    return Response(reports.returns_svg(report), media_type="image/svg+xml")


@router.get("/reports/phases", summary="How many cases are in each phase")
async def report_phases(reader: Reader) -> Response:
    return await reader.answer(
        reports.phases, reports.suppress_phases, reports.phases_csv, "phases"
    )


@router.get("/reports/assistance", summary="Reintegration assistance disbursed: cash vs in-kind")
async def report_assistance(reader: Reader) -> Response:
    return await reader.answer(
        reports.assistance, reports.suppress_assistance, reports.assistance_csv, "assistance"
    )


@router.get("/reports/withdrawals", summary="Withdrawals by coded reason: cases and consents")
async def report_withdrawals(reader: Reader) -> Response:
    """Case withdrawals (``withdrawn``: ``case``) and consent withdrawals (``withdrawn``: the
    purpose) by coded reason, with how many cases (``not_recorded``: a consent withdrawn
    before reasons were coded). Never the person's words (their note stays encrypted); of
    the caller's offices, small cells suppressed, outside headquarters."""
    return await reader.answer(
        reports.withdrawals, reports.suppress_withdrawals, reports.withdrawals_csv, "withdrawals"
    )


async def _contact_withdrawn(
    runtime: ServiceRuntime, row: Any, household: list[dict[str, Any]], consent_rows: list[Any]
) -> bool:
    """True when the principal (whose contact details the referral holds) withdrew
    ``contact_by_programme`` and has not given it again, as the case's stream has it when
    this read is answered, not only as the consents read model last saw it.

    The withdrawal's 2xx promises that nobody at the programme reads how to reach the
    person from then on, and the read model sees it 1-3 s later. Of the ways to close
    that window, this one: the consents rows, then the case's events after the case
    row's version (``Repository.events_after``), which on a read model that has caught
    up is one indexed query that finds no row (no stream load per read; none at all when
    the rows already say withdrawn, or the case has no contact). Not a consent row or a
    flag on the case row written by the withdrawal's own transaction: the projection,
    still behind on the case (a ConsentGiven just before, the referral itself), would
    overwrite it, and closing that needs a version per row and a migration. The rule
    is the read model's own (``read_models.consent_statuses``, through
    ``case_list.case_consents``), so the answer does not change when the read model
    catches up: a reopening keeps a withdrawn consent withdrawn, and a corrected contact
    is hidden with the rest while it stands."""
    principal: str | None = next(
        (m["person_id"] for m in household if m.get("relationship") == "principal"), None
    )
    if principal is None:
        return False
    consents = await case_list.case_consents(
        row.case_id,
        row.version,
        consent_rows,
        CONTACT_BY_PROGRAMME,
        runtime.commands.repo,
        # The rows say withdrawn: no probe (given again since: the contact shows once the
        # read model has it).
        settled=lambda recorded: recorded.get(principal) == "withdrawn",
    )
    return consents.withdrawn(principal, by_everyone=False)


async def _duplicates_seen_by(
    conn: Any, principal: Principal, detail: dict[str, Any]
) -> dict[str, Any]:
    """The case's possible duplicates the caller may see named: a match in a case of an
    office that is not theirs is only said (``possible_duplicate_elsewhere``)."""
    shown, elsewhere = [], bool(detail.get("possible_duplicate_elsewhere"))
    for match in detail.get("possible_duplicates", []):
        offices = await handover.case_offices(conn, match["matching_case_id"])
        if offices is not None and may_see(principal, offices):
            shown.append(match)
        else:
            elsewhere = True
    return {"possible_duplicates": shown, "possible_duplicate_elsewhere": elsewhere}


# What a consent row shows as it is stored (withdrawn_at in UTC after them).
_CONSENT_FIELDS = (
    "person_id",
    "purpose",
    "status",
    "given_on",
    "given_by",
    "language",
    "recorded_by",
)


def _consent(row: Any) -> dict[str, Any]:
    shown = {name: getattr(row, name) for name in _CONSENT_FIELDS}
    return shown | {"withdrawn_at": _utc(row.withdrawn_at) if row.withdrawn_at else None}


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
