"""Consents to medical data processing, as travel learnt them from intake.

Intake owns consent; travel keeps only what it must obey at once: for whom
the consent to process medical data was given (ConsentGiven) and for whom it
was withdrawn (ConsentWithdrawn). The rows are written in the consumer's
transaction with the inbox row of the event, and the fitness command and the
medical endpoint read them, so a consent or a withdrawal takes effect for the
next request. Health details are recorded only for a person whose consent was
given and not withdrawn since (a consent given again after a withdrawal counts).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.tables import case_table

MEDICAL_DATA_PROCESSING = "medical_data_processing"
RETURN_ASSISTANCE_PROCESSING = "return_assistance_processing"
WHOLE_HOUSEHOLD = "*"

metadata = MetaData()

withdrawn_consents = case_table(
    "travel_withdrawn_medical_consents",
    metadata,
    Column("person_id", String(200), primary_key=True),  # "*": the whole household
    Column("withdrawn_at", DateTime(timezone=True), nullable=False),
)


given_consents = case_table(
    "travel_given_medical_consents",
    metadata,
    Column("person_id", String(200), primary_key=True),
    Column("given_at", DateTime(timezone=True), nullable=False),
)


async def record_given(conn: AsyncConnection, case_id: str, person_id: str, at: datetime) -> None:
    """The person consented (again) to the processing of their medical data at ``at``."""
    t = given_consents
    where = (t.c.case_id == case_id, t.c.person_id == person_id)
    if await conn.scalar(select(t.c.case_id).where(*where)) is None:
        await conn.execute(t.insert().values(case_id=case_id, person_id=person_id, given_at=at))
    else:
        await conn.execute(t.update().where(*where).values(given_at=at))


async def record_withdrawal(
    conn: AsyncConnection, case_id: str, person_id: str | None, at: datetime
) -> None:
    t = withdrawn_consents
    who = person_id or WHOLE_HOUSEHOLD
    exists = await conn.scalar(
        select(t.c.case_id).where(t.c.case_id == case_id, t.c.person_id == who)
    )
    if exists is None:
        await conn.execute(t.insert().values(case_id=case_id, person_id=who, withdrawn_at=at))
    else:  # the latest withdrawal counts against a consent given in between
        await conn.execute(
            t.update()
            .where(t.c.case_id == case_id, t.c.person_id == who, t.c.withdrawn_at < at)
            .values(withdrawn_at=at)
        )


async def medical_consent_withdrawn(
    conn: AsyncConnection, case_id: str, people: Iterable[str] = ()
) -> set[str]:
    """Who of ``people`` (and of those with a consent or withdrawal of their own) has their
    consent to medical data processing withdrawn and not given again since; a withdrawal
    for the whole household counts for each of them."""
    w, g = withdrawn_consents, given_consents
    withdrawals = {
        r.person_id: _utc(r.withdrawn_at)
        for r in await conn.execute(select(w).where(w.c.case_id == case_id))
    }
    given = {
        r.person_id: _utc(r.given_at)
        for r in await conn.execute(select(g).where(g.c.case_id == case_id))
    }
    household = withdrawals.pop(WHOLE_HOUSEHOLD, None)
    out = set()
    for person_id in set(people) | set(withdrawals) | set(given):
        times = [t for t in (withdrawals.get(person_id), household) if t is not None]
        if times and (person_id not in given or given[person_id] <= max(times)):
            out.add(person_id)
    return out


async def may_process_medical_data(conn: AsyncConnection, case_id: str, person_id: str) -> bool:
    """Whether the person's consent to medical data processing was given and stands."""
    given = await conn.scalar(
        select(given_consents.c.given_at).where(
            given_consents.c.case_id == case_id, given_consents.c.person_id == person_id
        )
    )
    if given is None:
        return False
    t = withdrawn_consents
    withdrawn = await conn.scalar(
        select(func.max(t.c.withdrawn_at)).where(
            t.c.case_id == case_id,
            or_(t.c.person_id == person_id, t.c.person_id == WHOLE_HOUSEHOLD),
        )
    )
    return withdrawn is None or _utc(given) > _utc(withdrawn)


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
