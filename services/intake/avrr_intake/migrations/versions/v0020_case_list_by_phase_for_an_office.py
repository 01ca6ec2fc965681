"""intake: an office's case list by phase walks its own cases and those handed over to it
(issue 21; avrr_intake.case_list.OFFICE_PHASE_ORDER_INDEX, RECEIVING_PHASE_ORDER_INDEX).

``GET /cases?phase=`` as an office lists the cases the office holds or that were handed over
to it (avrr_intake.handover.belongs_to). As one condition, PostgreSQL estimated it at 58% of
the cases when it was 18%, and an office's first page by phase took 225 / 1,208 ms p50 / p99
at 1,000,000 cases. The report row names both offices, so an index on ``(office, phase,
referred_on)`` and one on ``(receiving_office, phase, referred_on)`` give each half in the
list's order, a day at a time; the list merges the two walks.

Built in the upgrade (avrr_events.migration_ops.add_index: not CONCURRENTLY, IF NOT
EXISTS), they lock ``intake_report_cases`` against writes (the reports' projection waits)
while they build. A much larger database gets them beforehand:
``CREATE INDEX CONCURRENTLY intake_report_cases_office_phase_day_idx ON intake_report_cases
(office, phase, referred_on)`` and ``CREATE INDEX CONCURRENTLY
intake_report_cases_receiving_phase_day_idx ON intake_report_cases (receiving_office, phase,
referred_on)``.

Create Date: 2026-12-07
"""

from __future__ import annotations

from avrr_events.migration_ops import add_index, drop_index

revision = "intake_0020"
down_revision: str | None = "intake_0019"

TABLE = "intake_report_cases"
OFFICE = "intake_report_cases_office_phase_day_idx"
RECEIVING = "intake_report_cases_receiving_phase_day_idx"


def upgrade() -> None:
    add_index(TABLE, OFFICE, "office", "phase", "referred_on")
    add_index(TABLE, RECEIVING, "receiving_office", "phase", "referred_on")


def downgrade() -> None:
    drop_index(TABLE, RECEIVING)
    drop_index(TABLE, OFFICE)
