"""Withdrawn consents to medical data processing, as travel learnt them from intake.

Intake owns consent; travel keeps only what it must obey at once: for whom
the consent to process medical data was withdrawn. The row is written in the
consumer's transaction with the inbox row of the ConsentWithdrawn, and the
fitness command and the medical endpoint read it, so the withdrawal takes
effect for the next request. docs/events.md publishes withdrawals only, so a
renewed consent is not seen here yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

MEDICAL_DATA_PROCESSING = "medical_data_processing"
RETURN_ASSISTANCE_PROCESSING = "return_assistance_processing"
WHOLE_HOUSEHOLD = "*"

metadata = MetaData()

withdrawn_consents = Table(
    "travel_withdrawn_medical_consents",
    metadata,
    Column("case_id", String(100), primary_key=True),
    Column("person_id", String(200), primary_key=True),  # "*": the whole household
    Column("withdrawn_at", DateTime(timezone=True), nullable=False),
)


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


async def medical_consent_withdrawn(conn: AsyncConnection, case_id: str) -> set[str]:
    """Person ids (or ``*``) of the case whose consent to medical data processing is withdrawn."""
    t = withdrawn_consents
    rows = await conn.scalars(select(t.c.person_id).where(t.c.case_id == case_id))
    return set(rows)


async def may_process_medical_data(conn: AsyncConnection, case_id: str, person_id: str) -> bool:
    t = withdrawn_consents
    withdrawn = await conn.scalar(
        select(t.c.person_id).where(
            t.c.case_id == case_id,
            or_(t.c.person_id == person_id, t.c.person_id == WHOLE_HOUSEHOLD),
        )
    )
    return withdrawn is None
