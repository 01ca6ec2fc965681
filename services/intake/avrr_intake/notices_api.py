"""Intake's notices over REST: the rights notice and the consent texts, as HTML or PDF.

Two kinds of route:

- blank notices (``/notices/...``): the rights notice and each purpose's
  consent text in an edition, in the reader's language (Accept-Language, or
  ``language``), naming nobody: for any staff member and partners, to print
  and hand out;
- a case's notices (``/cases/{case_id}/notices/...``): the rights notice for
  one of its people, and the text of a consent the person gave, in the
  version and language it was shown. They name the person, so they follow the
  case file's rule (its readers, of the case's offices: ``api.READ``), and
  every rendering is audited with the case id, as every case route is (the
  request middleware), whether HTML or PDF.

The language of a case's notice is the one asked for (``language``), else the
person's first language that has a catalog, else the reader's; a consent's
text is in the language it was shown in when that has a catalog.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from avrr_events.personal import ERASED_MARKER
from avrr_events.problems import NotFound
from avrr_events.web.authorization import STAFF, Authorized, Policy, Role, allow
from avrr_events.web.notices import (
    NOTICE_RESPONSES,
    NoticeLanguage,
    notice_response,
    reader_language,
)
from avrr_events.web.service import runtime_of
from avrr_intake import read_models
from avrr_intake.api import READ, CaseId, _full_name, case_offices
from avrr_intake.case import Case
from avrr_intake.consent import ConsentGiven, ConsentWithdrawn, Purpose
from avrr_intake.consent_texts import EDITIONS, TEXTS, purpose_text
from avrr_intake.events import registry
from avrr_intake.notices import (
    N_,
    consent_notice,
    consent_purpose_notice,
    rights_notice,
    worded,
)
from avrr_intake.refusals import case_not_found

# Blank notices name nobody: every staff role, and partners who refer people.
BLANK = allow(*STAFF, Role.REFERRER)

POLICY = Policy(
    {
        "GET /notices/rights": BLANK,
        "GET /notices/consent-purposes/{purpose}": BLANK,
        # They name the person: the case file's readers (api.READ), audited.
        "GET /cases/{case_id}/notices/rights": READ,
        "GET /cases/{case_id}/notices/consents/{person_id}/{purpose}": READ,
    },
    case_offices=case_offices,
)

router = APIRouter(tags=["intake notices"])

PersonId = Annotated[str, Path(max_length=100)]
Edition = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}$",
        description="the texts' edition (default: the current one), e.g. 2026-12; "
        "404 for an edition that has no text of the purpose",
    ),
]


@router.get(
    "/notices/rights",
    summary="The rights notice, blank (HTML or PDF, in the reader's language)",
    response_class=Response,
    responses=NOTICE_RESPONSES,
)
async def blank_rights_notice(
    request: Request, _principal: Authorized, language: NoticeLanguage = None
) -> Response:
    """Voluntary, withdraw at any time, free, confidential; each consent; how to complain."""
    notice = rights_notice(language or reader_language(request), issued_on=datetime.now(UTC).date())
    return await notice_response(request, notice, filename="rights")


@router.get(
    "/notices/consent-purposes/{purpose}",
    summary="A consent purpose's text in an edition, blank (HTML or PDF)",
    response_class=Response,
    responses={**NOTICE_RESPONSES, 404: {"description": "no text of the purpose in that edition"}},
)
async def blank_consent_text(
    purpose: Purpose,
    request: Request,
    _principal: Authorized,
    version: Edition = None,
    language: NoticeLanguage = None,
) -> Response:
    """What a person is shown before consenting to ``purpose``; 404 for an unknown edition."""
    text = purpose_text(purpose, version)
    if text is None:
        raise NotFound(
            wording=worded(
                N_("no text of %(purpose)s in edition %(version)s"),
                purpose=purpose,
                version=version,
            )
        )
    notice = consent_purpose_notice(text, language or reader_language(request))
    return await notice_response(request, notice, filename=text.version.replace("@", "-"))


def _is_principal(member: dict[str, Any]) -> bool:
    return bool(member.get("relationship") == "principal")


async def _person(request: Request, case_id: str, person_id: str | None) -> tuple[Any, Any]:
    """The case's file row and one of its people (the principal by default): 404 otherwise."""
    runtime = runtime_of(request)
    async with runtime.db.autocommit() as conn:
        row = await read_models.case_row(conn, case_id)
    if row is None:
        raise case_not_found(case_id)
    household = row.detail.get("household", [])
    member = next(
        (
            m
            for m in household
            if (
                m.get("person_id") == person_id
                if person_id
                else m.get("relationship") == "principal"
            )
        ),
        None,
    )
    if member is None:
        raise NotFound(
            wording=worded(
                N_("case %(case)s has no person %(person)s"), case=case_id, person=person_id
            )
        )
    personal = await runtime.cipher.reveal(member.get("personal"))
    return row, personal


@router.get(
    "/cases/{case_id}/notices/rights",
    summary="The rights notice for one of the case's people (names them; audited)",
    response_class=Response,
    responses=NOTICE_RESPONSES,
)
async def case_rights_notice(
    case_id: CaseId,
    request: Request,
    _principal: Authorized,
    person_id: Annotated[
        str | None, Query(max_length=100, description="default: the principal")
    ] = None,
    language: NoticeLanguage = None,
) -> Response:
    """In the person's language (the case's recorded languages) unless ``language`` says."""
    row, personal = await _person(request, case_id, person_id)
    chosen = language or reader_language(request, tuple(row.detail.get("languages", ())))
    notice = rights_notice(
        chosen,
        issued_on=datetime.now(UTC).date(),
        case_id=case_id,
        name=None if personal == ERASED_MARKER else _full_name(personal),
        erased=personal == ERASED_MARKER,
    )
    return await notice_response(request, notice, filename=f"rights-{case_id}")


async def _consent_events(
    request: Request, case_id: str, person_id: str, purpose: Purpose
) -> tuple[ConsentGiven | None, bool]:
    """The person's latest ConsentGiven for ``purpose``, and whether it was withdrawn since.

    Read from the case's events (the text version is in the event only)."""
    runtime = runtime_of(request)
    given: ConsentGiven | None = None
    withdrawn = False
    for recorded in await runtime.store.load(Case(case_id).stream_id):
        event = registry.decode(recorded.envelope)
        match event:
            case ConsentGiven() if event.person_id == person_id and event.purpose == purpose:
                given, withdrawn = event, False
            case ConsentWithdrawn() if event.purpose == purpose and event.person_id in (
                person_id,
                None,
            ):
                withdrawn = given is not None
    return given, withdrawn


@router.get(
    "/cases/{case_id}/notices/consents/{person_id}/{purpose}",
    summary="The text a person consented to, in the version and language shown (audited)",
    response_class=Response,
    responses=NOTICE_RESPONSES,
)
async def case_consent_notice(
    case_id: CaseId,
    person_id: PersonId,
    purpose: Purpose,
    request: Request,
    _principal: Authorized,
    language: NoticeLanguage = None,
) -> Response:
    """The consent as given (when, by whom, which text version, withdrawn or not); 404 when the
    person never consented to ``purpose``. In the language the text was shown in."""
    _row, personal = await _person(request, case_id, person_id)
    consent, withdrawn = await _consent_events(request, case_id, person_id, purpose)
    if consent is None:
        raise NotFound(
            wording=worded(
                N_("person %(person)s of case %(case)s gave no consent to %(purpose)s"),
                person=person_id,
                case=case_id,
                purpose=purpose,
            )
        )
    # Before versioning: the oldest edition, which is what was in use then.
    text = TEXTS.get(consent.text_version or "") or purpose_text(purpose, EDITIONS[0])
    assert text is not None
    notice = consent_notice(
        text,
        consent,
        language or reader_language(request, (consent.language,)),
        withdrawn=withdrawn,
        name=None if personal == ERASED_MARKER else _full_name(personal),
        erased=personal == ERASED_MARKER,
    )
    return await notice_response(
        request, notice, filename=f"consent-{case_id}-{person_id}-{purpose}"
    )
