"""The satisfaction question of the monitoring visits, as the feedback report counts it.

Reintegration asks the returnee at the 1- and 6-month monitoring visits how satisfied they
are with the assistance, on a coded scale (``SCALE``: 1 very dissatisfied .. 5 very
satisfied), and publishes the answer in ``MonitoringVisitRecorded`` (``satisfaction``,
absent when not asked or not answered). Intake keeps one row per answered visit: the case,
the visit's month and the score, no person; the office is the case's receiving office (the
one that visits), else its own, read when the report is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Envelope, Projection
from avrr_intake import read_models
from avrr_intake.handover import handovers
from avrr_intake.observed import MonitoringVisitRecorded

SCALE = {
    1: "very dissatisfied",
    2: "dissatisfied",
    3: "neither",
    4: "satisfied",
    5: "very satisfied",
}
SATISFIED = 4  # from this score on, an answer counts as satisfied

metadata = MetaData()

answers = Table(
    "intake_satisfaction",
    metadata,
    Column("case_id", String(100), primary_key=True),
    Column("due_month", Integer, primary_key=True),
    Column("score", Integer, nullable=False),
)


class SatisfactionAnswers(Projection):
    """One row per monitoring visit whose satisfaction question was answered."""

    name = "intake_satisfaction"
    metadata = metadata

    async def _visited(
        self, conn: AsyncConnection, event: MonitoringVisitRecorded, envelope: Envelope
    ) -> None:
        if event.satisfaction is None:
            return
        a = answers.c
        await conn.execute(
            answers.delete().where(a.case_id == event.case_id, a.due_month == event.due_month)
        )
        await conn.execute(
            answers.insert().values(
                case_id=event.case_id, due_month=event.due_month, score=event.satisfaction
            )
        )

    handlers = {MonitoringVisitRecorded: _visited}


async def by_office_and_visit(conn: AsyncConnection) -> list[Any]:
    """(office, due_month, answers, satisfied, score_total) rows, by office and visit month."""
    a, h, c = answers.c, handovers.c, read_models.cases.c
    office = func.coalesce(h.receiving_office, c.office)
    query = (
        select(
            office.label("office"),
            a.due_month,
            func.count().label("answers"),
            func.sum((a.score >= SATISFIED).cast(Integer)).label("satisfied"),
            func.sum(a.score).label("score_total"),
        )
        .select_from(
            answers.outerjoin(handovers, h.case_id == a.case_id).outerjoin(
                read_models.cases, c.case_id == a.case_id
            )
        )
        .group_by(office, a.due_month)
        .order_by(office, a.due_month)
    )
    return list(await conn.execute(query))
