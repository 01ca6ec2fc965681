"""Intake's read models, fed by its own events through the idempotent consumer, and their queries.

- ``intake_cases``: one row per case, with the columns the case list filters
  on and the case file as a JSON document (personal values stay ciphertext;
  the API decrypts what it serves). ``version`` counts the case's events, so
  it equals the stream version and serves as the ETag of what was read.
- ``intake_consents``: the consent status of every person and purpose
  (``lapsed``: given before the case ended, and the case was reopened since).
- ``intake_duplicate_keys``: keyed hashes (never plaintext) of the people of
  every case, to flag a new referral of someone already in an open case.
  A rectified person's row is replaced by their new key; rows go when the
  person's data is erased.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    and_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import (
    ERASED,
    Database,
    DomainEvent,
    Encrypted,
    Envelope,
    PersonalDataCipher,
    Projection,
    projections,
)
from avrr_events.projections import page
from avrr_events.tables import Json, case_table
from avrr_intake.amendment import ReturnAmendmentRefused, ReturnRequestAmended
from avrr_intake.case import (
    ACTIVE,
    CaseClosed,
    CaseReopened,
    CaseWithdrawn,
    PersonalDataErased,
    ReturnRequested,
    ReturnResumed,
    ReturnSuspended,
)
from avrr_intake.consent import ConsentGiven, ConsentWithdrawn
from avrr_intake.counselling import CounsellingRecorded
from avrr_intake.health import NeedsDeclared
from avrr_intake.household_change import (
    HouseholdAdditionReversed,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
)
from avrr_intake.notes import AttachmentAdded, NoteAdded
from avrr_intake.rectification import HouseholdFactsCorrected, PersonalDataRectified
from avrr_intake.referral import (
    DuplicateReferredElsewhere,
    PossibleDuplicateFlagged,
    ReferralReceived,
)
from avrr_intake.transfer import (
    TransferAccepted,
    TransferExpired,
    TransferRejected,
    TransferRequested,
)

metadata = MetaData()

cases = case_table(
    "intake_cases",
    metadata,
    Column("version", Integer, nullable=False),
    Column("status", String(30), nullable=False),
    Column("office", String(100), nullable=False),
    Column("nationality", String(2), nullable=False),
    Column("host_country", String(2), nullable=False),
    Column("source", String(50), nullable=False),
    Column("household_size", Integer, nullable=False),
    Column("unaccompanied_minor", Boolean, nullable=False),
    Column("personal_data_erased", Boolean, nullable=False, default=False),
    Column("possible_duplicate", Boolean, nullable=False, default=False),
    Column("referred_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("principal", Json, nullable=True),
    Column("detail", Json, nullable=False),
)
Index("intake_cases_list_idx", cases.c.office, cases.c.status, cases.c.referred_at)
# The case list's order (avrr_intake.case_list: newest referral first): its first page is a
# walk of this index that stops after the page, not a sort of every match (intake_0017).
Index("intake_cases_referred_idx", cases.c.referred_at)
Index("intake_cases_nationality_idx", cases.c.nationality)

consents = case_table(
    "intake_consents",
    metadata,
    Column("person_id", String(100), primary_key=True),
    Column("purpose", String(60), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("given_on", String(10), nullable=True),
    Column("given_by", String(30), nullable=True),
    Column("language", String(35), nullable=True),
    Column("recorded_by", String(200), nullable=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

duplicate_keys = case_table(
    "intake_duplicate_keys",
    metadata,
    Column("person_id", String(100), primary_key=True),
    Column("match_key", String(64), nullable=False),
)
Index("intake_duplicate_keys_match_idx", duplicate_keys.c.match_key)

# A person of this case was referred again at an office that does not see the case: for
# the supervisors of the case's offices (GET /duplicate-alerts); no id of the other office.
duplicate_alerts = case_table(
    "intake_duplicate_alerts",
    metadata,
    Column("person_id", String(100), primary_key=True),
    Column("referrals", Integer, nullable=False),
    Column("last_flagged_at", DateTime(timezone=True), nullable=False),
)


# A rectification's corrected values: the case file keeps them where the referral's were,
# not in its list of rectifications (which says which fields, why and by whom).
_CORRECTED_VALUES = frozenset(
    {"case_id", "personal", "duplicate_key", "contact", "referrer", "current_city"}
)
# Where the case file keeps what ended the case, by the status it ended in.
_ENDED_BY = {"withdrawn": "withdrawal", "closed": "closure"}


class CaseFiles(Projection):
    """Every intake event of a case, folded into the tables above."""

    name = "intake_case_files"
    metadata = metadata

    def __init__(self, cipher: PersonalDataCipher) -> None:
        # The duplicate key rides in the event encrypted with its person; the
        # projection decrypts it to index it (and finds nothing once erased).
        self.cipher = cipher

    async def _referral(
        self, conn: AsyncConnection, event: ReferralReceived, envelope: Envelope
    ) -> None:
        at = envelope.time
        detail = event.model_dump(mode="json")
        detail.update(
            status="open",
            counselling=[],
            possible_duplicates=[],
            return_request=None,
            suspension=None,
            withdrawal=None,
            closure=None,
            erasure=None,
        )
        principal = next(p for p in event.household if p.relationship == "principal")
        await conn.execute(
            cases.insert().values(
                case_id=event.case_id,
                version=1,
                status="open",
                office=event.office,
                nationality=event.nationality,
                host_country=event.host_country,
                source=event.source,
                household_size=len(event.household),
                unaccompanied_minor=any(p.unaccompanied_minor for p in event.household),
                personal_data_erased=False,
                possible_duplicate=False,
                referred_at=event.received_at,
                updated_at=at,
                principal=principal.personal.model_dump(mode="json"),
                detail=detail,
            )
        )
        rows = []
        for person in event.household:
            if person.duplicate_key is None:
                continue
            key = await self.cipher.decrypt(person.duplicate_key)
            if key is not ERASED:
                rows.append(
                    {"case_id": event.case_id, "person_id": person.person_id, "match_key": key}
                )
        if rows:
            await conn.execute(duplicate_keys.insert(), rows)

    async def _consent_given(
        self, conn: AsyncConnection, event: ConsentGiven, envelope: Envelope
    ) -> None:
        at = envelope.time
        c = consents.c
        await conn.execute(
            consents.delete().where(
                c.case_id == event.case_id,
                c.person_id == event.person_id,
                c.purpose == event.purpose,
            )
        )
        await conn.execute(
            consents.insert().values(
                case_id=event.case_id,
                person_id=event.person_id,
                purpose=event.purpose,
                status="given",
                given_on=event.given_on.isoformat(),
                given_by=event.given_by,
                language=event.language,
                recorded_by=event.recorded_by,
                withdrawn_at=None,
                updated_at=at,
            )
        )
        await _update(conn, event.case_id, at, lambda d: None)

    async def _duplicate_flagged(
        self, conn: AsyncConnection, event: PossibleDuplicateFlagged, envelope: Envelope
    ) -> None:
        matches = [m.model_dump(mode="json") for m in event.matches]

        def flag(d: dict[str, Any]) -> None:
            d["possible_duplicates"].extend(matches)
            if event.elsewhere:  # a count, never another office's ids
                d["possible_duplicate_elsewhere"] = True

        await _update(conn, event.case_id, envelope.time, flag, possible_duplicate=True)

    async def _referred_elsewhere(
        self, conn: AsyncConnection, event: DuplicateReferredElsewhere, envelope: Envelope
    ) -> None:
        await _alert(conn, event)
        await _update(conn, event.case_id, envelope.time, lambda d: None)

    async def _needs_declared(
        self, conn: AsyncConnection, event: NeedsDeclared, envelope: Envelope
    ) -> None:
        declared = event.model_dump(mode="json", exclude={"case_id"})
        await _update(
            conn,
            event.case_id,
            envelope.time,
            lambda d: d.setdefault("needs_declared", []).append(declared),
        )

    async def _noted(
        self, conn: AsyncConnection, event: NoteAdded | AttachmentAdded, envelope: Envelope
    ) -> None:
        """A note or a file (attachments.py keeps them) moves the case file's version on."""
        await _update(conn, event.case_id, envelope.time, lambda d: None)

    async def _counselling(
        self, conn: AsyncConnection, event: CounsellingRecorded, envelope: Envelope
    ) -> None:
        session = event.model_dump(mode="json", exclude={"case_id"})
        await _update(
            conn, event.case_id, envelope.time, lambda d: d["counselling"].append(session)
        )

    async def _consent_withdrawn(
        self, conn: AsyncConnection, event: ConsentWithdrawn, envelope: Envelope
    ) -> None:
        at = envelope.time
        c = consents.c
        where = [c.case_id == event.case_id, c.purpose == event.purpose]
        if event.person_id is not None:
            where.append(c.person_id == event.person_id)
        await conn.execute(
            update(consents)
            .where(*where)
            .values(status="withdrawn", withdrawn_at=event.withdrawn_at, updated_at=at)
        )
        # Why, in the case file (the note stays ciphertext; the API decrypts it).
        withdrawal = event.model_dump(mode="json", exclude={"case_id"})
        withdrawal["reason"] = event.reason_code  # not_recorded: before reasons were coded
        await _update(
            conn,
            event.case_id,
            at,
            lambda d: d.setdefault("consent_withdrawals", []).append(withdrawal),
        )

    async def _return_requested(
        self, conn: AsyncConnection, event: ReturnRequested, envelope: Envelope
    ) -> None:
        await _record(
            conn, event.case_id, event, envelope, "return_request", status="return_requested"
        )

    async def _return_suspended(
        self, conn: AsyncConnection, event: ReturnSuspended, envelope: Envelope
    ) -> None:
        await _record(
            conn, event.case_id, event, envelope, "suspension", status="suspended_by_consent"
        )

    async def _return_resumed(
        self, conn: AsyncConnection, event: ReturnResumed, envelope: Envelope
    ) -> None:
        await _update(
            conn,
            event.case_id,
            envelope.time,
            lambda d: d.__setitem__("suspension", None),
            status="return_requested",
        )

    async def _rectified(
        self, conn: AsyncConnection, event: PersonalDataRectified, envelope: Envelope
    ) -> None:
        """The person's record in the case file is the corrected one (still ciphertext), and so
        are the case's contact, referrer and current city when they changed; their duplicate
        key is replaced by the new one, and the rectification is on file (fields and reason,
        its note as ciphertext: never the values)."""
        person_id, sealed = event.person_id, event.personal.model_dump(mode="json")
        await self._index_duplicate_key(conn, event.case_id, person_id, event.duplicate_key)
        values = event.model_dump(mode="json")
        entry = {k: v for k, v in values.items() if k not in _CORRECTED_VALUES}
        is_principal = False

        def correct(doc: dict[str, Any]) -> None:
            nonlocal is_principal
            for member in doc["household"]:
                if member["person_id"] == person_id:
                    member["personal"] = sealed
                    member["duplicate_key"] = values["duplicate_key"]
                    if event.age_years is not None:
                        member["age_years"] = event.age_years
                    if event.sex is not None:
                        member["sex"] = event.sex
                    is_principal = member["relationship"] == "principal"
            for name in ("contact", "referrer", "current_city"):
                if values[name] is not None:
                    doc[name] = values[name]
            if "referrer" in event.fields:
                doc["referring_organisation"] = event.referring_organisation
            doc.setdefault("rectifications", []).append(entry)

        await _update(conn, event.case_id, envelope.time, correct)
        if is_principal:  # the column the case list shows the principal's name from
            await conn.execute(
                update(cases).where(cases.c.case_id == event.case_id).values(principal=sealed)
            )

    async def _facts_corrected(
        self, conn: AsyncConnection, event: HouseholdFactsCorrected, envelope: Envelope
    ) -> None:
        """The household's ages and unaccompanied children as a rectification corrected them."""
        facts = {m.person_id: m for m in event.household}

        def correct(doc: dict[str, Any]) -> None:
            for member in doc["household"]:
                if (corrected := facts.get(member["person_id"])) is not None:
                    member["age_years"] = corrected.age_years
                    member["unaccompanied_minor"] = corrected.unaccompanied_minor

        alone = any(m.unaccompanied_minor for m in event.household)
        await _update(conn, event.case_id, envelope.time, correct, unaccompanied_minor=alone)

    async def _amended(
        self,
        conn: AsyncConnection,
        event: ReturnRequestAmended | ReturnAmendmentRefused,
        envelope: Envelope,
    ) -> None:
        """The return request in the case file reads as amended (or restored as cleared)."""
        change = event.model_dump(mode="json", exclude={"case_id"})
        fields = ("destination_country", "destination_region", "programme_hint")

        def amend(d: dict[str, Any]) -> None:
            if d.get("return_request"):
                d["return_request"].update({f: change[f] for f in fields})
            d.setdefault("return_amendments", []).append(
                {"event": envelope.type.rsplit(".", 1)[-1], **change}
            )

        await _update(conn, event.case_id, envelope.time, amend)

    async def _member_removed(
        self,
        conn: AsyncConnection,
        event: HouseholdMemberRemoved | HouseholdAdditionReversed,
        envelope: Envelope,
    ) -> None:
        """The person moves from the household to ``removed_members``, with what took them
        off: the ``removal``, or the ``reversal`` of an addition eligibility refused."""
        why = "reversal" if isinstance(event, HouseholdAdditionReversed) else "removal"
        entry = event.model_dump(mode="json", exclude={"case_id", "person_id"})

        def remove(d: dict[str, Any]) -> None:
            member = next(m for m in d["household"] if m["person_id"] == event.person_id)
            d["household"] = [m for m in d["household"] if m is not member]
            # Their keyed identity hash stays in the duplicate check only, never in the file.
            member.pop("duplicate_key", None)
            d.setdefault("removed_members", []).append({**member, why: entry})

        await _update(
            conn, event.case_id, envelope.time, remove, household_size=event.household_size
        )

    async def _index_duplicate_key(
        self, conn: AsyncConnection, case_id: str, person_id: str, sealed: Encrypted | None
    ) -> None:
        """The person's duplicate key in the duplicate check is ``sealed``'s (none once their
        key was shredded, or without one)."""
        d = duplicate_keys.c
        await conn.execute(
            duplicate_keys.delete().where(d.case_id == case_id, d.person_id == person_id)
        )
        key = await self.cipher.decrypt(sealed) if sealed else ERASED
        if key is not ERASED:
            await conn.execute(
                duplicate_keys.insert().values(case_id=case_id, person_id=person_id, match_key=key)
            )

    async def _member_added(
        self, conn: AsyncConnection, event: HouseholdMemberAdded, envelope: Envelope
    ) -> None:
        """The person joins the household of the case file as a referral's member does (with
        the addition), and the duplicate check."""
        member = event.member.model_dump(mode="json")
        member["addition"] = event.model_dump(mode="json", exclude={"case_id", "member"})
        await self._index_duplicate_key(
            conn, event.case_id, event.member.person_id, event.member.duplicate_key
        )
        await _update(
            conn,
            event.case_id,
            envelope.time,
            lambda d: d["household"].append(member),
            household_size=event.household_size,
        )

    async def _member_restored(
        self, conn: AsyncConnection, event: HouseholdMemberRestored, envelope: Envelope
    ) -> None:
        def restore(d: dict[str, Any]) -> None:
            removed = d.get("removed_members", [])
            member = next(m for m in removed if m["person_id"] == event.person_id)
            d["removed_members"] = [m for m in removed if m is not member]
            member.pop("removal", None)
            d["household"].append(member)

        await _update(
            conn, event.case_id, envelope.time, restore, household_size=event.household_size
        )

    async def _withdrawn(
        self, conn: AsyncConnection, event: CaseWithdrawn, envelope: Envelope
    ) -> None:
        await _record(conn, event.case_id, event, envelope, "withdrawal", status="withdrawn")

    async def _closed(self, conn: AsyncConnection, event: CaseClosed, envelope: Envelope) -> None:
        await _record(conn, event.case_id, event, envelope, "closure", status="closed")

    async def _reopened(
        self, conn: AsyncConnection, event: CaseReopened, envelope: Envelope
    ) -> None:
        at = envelope.time
        await conn.execute(
            update(consents)
            .where(consents.c.case_id == event.case_id, consents.c.status == "given")
            .values(status="lapsed", updated_at=at)
        )
        kept = event.model_dump(mode="json", exclude={"case_id"})

        def reopen(d: dict[str, Any]) -> None:
            # What ended the case moves into the reopening's record: the file is open again.
            ended = _ENDED_BY[event.previous_status]
            kept["ended"] = d.get(ended)
            d[ended] = None
            d.setdefault("reopenings", []).append(kept)

        status = "suspended_by_consent" if event.resumes_return else "open"
        await _update(conn, event.case_id, at, reopen, status=status)

    async def _transfer(
        self,
        conn: AsyncConnection,
        event: TransferRequested | TransferAccepted | TransferRejected | TransferExpired,
        envelope: Envelope,
    ) -> None:
        kept = {"type": event.event_type, **event.model_dump(mode="json", exclude={"case_id"})}
        columns: dict[str, Any] = {}

        def transfer(d: dict[str, Any]) -> None:
            d.setdefault("transfers", []).append(kept)
            if isinstance(event, TransferAccepted):
                d["office"] = event.to_office

        if isinstance(event, TransferAccepted):
            columns["office"] = event.to_office  # every office-scoped read follows it
        await _update(conn, event.case_id, envelope.time, transfer, **columns)

    async def _erased(
        self, conn: AsyncConnection, event: PersonalDataErased, envelope: Envelope
    ) -> None:
        await conn.execute(duplicate_keys.delete().where(duplicate_keys.c.case_id == event.case_id))
        await _record(conn, event.case_id, event, envelope, "erasure", personal_data_erased=True)

    handlers = {
        ReferralReceived: _referral,
        PossibleDuplicateFlagged: _duplicate_flagged,
        DuplicateReferredElsewhere: _referred_elsewhere,
        NeedsDeclared: _needs_declared,
        CounsellingRecorded: _counselling,
        ConsentGiven: _consent_given,
        ConsentWithdrawn: _consent_withdrawn,
        ReturnRequested: _return_requested,
        ReturnSuspended: _return_suspended,
        ReturnResumed: _return_resumed,
        CaseWithdrawn: _withdrawn,
        CaseClosed: _closed,
        CaseReopened: _reopened,
        TransferRequested: _transfer,
        TransferAccepted: _transfer,
        TransferRejected: _transfer,
        TransferExpired: _transfer,
        PersonalDataErased: _erased,
        NoteAdded: _noted,
        AttachmentAdded: _noted,
        PersonalDataRectified: _rectified,
        HouseholdFactsCorrected: _facts_corrected,
        ReturnRequestAmended: _amended,
        ReturnAmendmentRefused: _amended,
        HouseholdMemberRemoved: _member_removed,
        HouseholdMemberRestored: _member_restored,
        HouseholdMemberAdded: _member_added,
        HouseholdAdditionReversed: _member_removed,
    }


async def _alert(conn: AsyncConnection, event: DuplicateReferredElsewhere) -> None:
    a = duplicate_alerts.c
    where = (a.case_id == event.case_id, a.person_id == event.person_id)
    if await conn.scalar(select(a.referrals).where(*where)) is None:
        await conn.execute(
            duplicate_alerts.insert().values(
                case_id=event.case_id,
                person_id=event.person_id,
                referrals=1,
                last_flagged_at=event.flagged_at,
            )
        )
    else:
        await conn.execute(
            update(duplicate_alerts)
            .where(*where)
            .values(referrals=a.referrals + 1, last_flagged_at=event.flagged_at)
        )


async def _update(
    conn: AsyncConnection,
    case_id: str,
    at: datetime,
    change: Callable[[dict[str, Any]], None],
    **columns: Any,
) -> None:
    """Apply ``change`` to the case document, count the event, set ``columns``."""
    row = (await conn.execute(select(cases.c.detail).where(cases.c.case_id == case_id))).first()
    if row is None:  # events of one case arrive in order: the referral is always first
        raise LookupError(f"case {case_id} has no referral in the read model")
    detail = dict(row.detail)
    change(detail)
    if "status" in columns:
        detail["status"] = columns["status"]
    await conn.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(version=cases.c.version + 1, updated_at=at, detail=detail, **columns)
    )


async def _record(
    conn: AsyncConnection,
    case_id: str,
    event: DomainEvent,
    envelope: Envelope,
    key: str,
    **columns: Any,
) -> None:
    """Keep the event (without its case id) under ``key`` of the case document."""
    kept = event.model_dump(mode="json", exclude={"case_id"})
    await _update(conn, case_id, envelope.time, lambda d: d.__setitem__(key, kept), **columns)


# ----------------------------------------------------------------- queries --


async def duplicate_matches(
    conn: AsyncConnection, keys: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(key, case id, person id) of people with these keys in active, unerased cases."""
    if not keys:
        return []
    d = duplicate_keys.c
    stmt = (
        select(d.match_key, d.case_id, d.person_id)
        .join(cases, cases.c.case_id == d.case_id)
        .where(
            d.match_key.in_(list(keys)),
            cases.c.status.in_(ACTIVE),
            cases.c.personal_data_erased.is_(False),
        )
        .order_by(d.case_id, d.person_id)
    )
    return [(r.match_key, r.case_id, r.person_id) for r in await conn.execute(stmt)]


async def duplicate_alert_rows(
    conn: AsyncConnection,
    *,
    visible: ColumnElement[bool] | None,
    office: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Any], int]:
    """Duplicate alerts of the cases ``visible`` (handover.belongs_to), newest first."""
    a, c = duplicate_alerts.c, cases.c
    where = [] if visible is None else [visible]
    if office is not None:
        where.append(c.office == office)
    joined = duplicate_alerts.join(cases, c.case_id == a.case_id)
    query = (
        select(a.case_id, a.person_id, a.referrals, a.last_flagged_at, c.office, c.status)
        .select_from(joined)
        .where(and_(true(), *where))
        .order_by(a.last_flagged_at.desc(), a.case_id, a.person_id)
    )
    return await page(conn, query, limit=limit, offset=offset)


async def case_row(conn: AsyncConnection | Database, case_id: str) -> Any:
    return await projections.case_row(conn, cases, case_id)


_CONSENT_ROWS = projections.case_rows_read(consents, consents.c.person_id, consents.c.purpose)


async def consent_rows(conn: AsyncConnection | Database, case_id: str) -> list[Any]:
    """A case's consents by person and purpose (every case file read shows them)."""
    return await _CONSENT_ROWS.rows(conn, case_id=case_id)


def consent_statuses(
    rows: Sequence[Any], unseen: Sequence[DomainEvent]
) -> dict[tuple[str, str], str]:
    """Each (person, purpose)'s consent status as the case's stream has it now: the
    ``consents`` rows, then the case's events this read model has not applied yet
    (``unseen``, in order: ``Repository.events_after`` the case row's version), applied
    as ``CaseFiles`` applies them (given; withdrawn for the person, or for everyone
    with a row of the purpose; given lapses at a reopening, withdrawn stays)."""
    statuses = {(r.person_id, r.purpose): r.status for r in rows}
    for event in unseen:
        match event:
            case ConsentGiven(person_id=person_id, purpose=purpose):
                statuses[(person_id, purpose)] = "given"
            case ConsentWithdrawn(person_id=person_id, purpose=purpose):
                for person, of in statuses:
                    if of == purpose and person_id in (person, None):
                        statuses[(person, of)] = "withdrawn"
            case CaseReopened():
                for key, status in statuses.items():
                    if status == "given":
                        statuses[key] = "lapsed"
    return statuses
