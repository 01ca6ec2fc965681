"""Retention: a closed case's people are crypto-shredded once the retention period is over.

Intake on real PostgreSQL + Kafka. The sweep is driven with a clock of the
test's own where the question is "before or after the period" (no waiting on
real time); the scheduled job itself runs with a retention of a few seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from intake_fixtures import CASEWORKER, DPO, PRINCIPAL_NAME, Intake, referral

from avrr_events.settings import ServiceSettings
from avrr_events.testing import database_dump, eventually, running
from avrr_intake import observed, retention
from avrr_intake.main import service
from avrr_intake.retention import RetentionSweep, closing_of

AUDITOR = {"X-AVRR-User": "auditor-1", "X-AVRR-Roles": "auditor"}
NOW = datetime(2026, 6, 1, tzinfo=UTC)


async def closure(intake: Intake, case_id: str) -> dict[str, Any] | None:
    async with intake.runtime.db.engine.connect() as conn:
        row = await retention.closure_of(conn, case_id)
    return None if row is None else dict(row)


async def wait_closed(intake: Intake, case_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def closed() -> bool:
        row = await closure(intake, case_id)
        seen.update(row or {})
        return bool(row and row["closed_at"])

    await eventually(closed)
    return seen


def sweep(intake: Intake, period: timedelta, now: datetime) -> RetentionSweep:
    """The runtime's own sweep (its scheduled run went by at start-up), on the test's clock."""
    [job] = [j for j in intake.runtime.jobs if j.name == "retention"]
    assert isinstance(job.work, RetentionSweep)
    job.work.period, job.work.clock = period, lambda: now
    return job.work


async def withdraw(intake: Intake, case_id: str) -> None:
    response = await intake.http.post(
        f"/cases/{case_id}/withdrawal", json={"reason": "changed_mind"}
    )
    assert response.status_code == 200, response.text


async def test_a_case_closed_less_than_the_period_ago_is_kept_and_erased_once_it_is_over(
    intake: Intake, database_url: str
) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    open_one = (await intake.open_case(referral(nationality="PE")))["case_id"]
    await withdraw(intake, case_id)
    closed_at = (await wait_closed(intake, case_id))["closed_at"]
    period = timedelta(days=30)

    kept = await sweep(intake, period, closed_at + period - timedelta(seconds=1))()
    assert kept == 0
    assert "avrr.intake.PersonalDataErased" not in await intake.event_types(case_id)

    erased = await sweep(intake, period, closed_at + period)()
    assert erased == 1
    assert await intake.event_types(case_id) == [
        "avrr.intake.ReferralReceived",
        "avrr.intake.CaseWithdrawn",
        "avrr.intake.PersonalDataErased",
    ]
    [*_, recorded] = await intake.runtime.store.load(f"case-{case_id}")
    assert recorded.envelope.data["reason"] == "retention"
    assert recorded.envelope.data["erased_by"] == retention.RETENTION_ACTOR

    case = await intake.wait_for(case_id, version=3)
    assert case["personal_data_erased"] is True
    assert case["household"][0]["family_name"] == "erased"
    assert case["nationality"] == "BO" and case["status"] == "withdrawn"
    # The open case (never closed) keeps its people, whatever the clock says.
    assert await sweep(intake, period, NOW + timedelta(days=10_000))() == 0
    other = (await intake.case(open_one)).json()
    assert other["personal_data_erased"] is False
    assert other["household"][0]["family_name"] == "Quispe Mamani"
    assert "Quispe Mamani" not in await database_dump(database_url), "ciphertext only"

    async def marked() -> bool:
        row = await closure(intake, case_id)
        return bool(row and row["erased_at"])

    await eventually(marked)


async def test_a_sweep_erases_a_case_once_and_audits_and_counts_it(intake: Intake) -> None:
    case_id = (await intake.open_case())["case_id"]
    await withdraw(intake, case_id)
    closed_at = (await wait_closed(intake, case_id))["closed_at"]
    job = sweep(intake, timedelta(days=1), closed_at + timedelta(days=2))

    assert await job() == 1
    # Again before and after the read model saw the erasure: the aggregate refuses a second.
    assert await job() == 0
    await intake.wait_for(case_id, version=3)
    assert await job() == 0
    types = await intake.event_types(case_id)
    assert types.count("avrr.intake.PersonalDataErased") == 1

    entries = (await intake.http.get("/audit", params={"case_id": case_id}, headers=AUDITOR)).json()
    assert [e["actor"] for e in entries if e["route"].startswith("retention")] == [
        retention.RETENTION_ACTOR
    ]
    metrics = (await intake.http.get("/metrics")).text
    assert 'avrr_retention_erasures_total{service="intake"} 1.0' in metrics


async def test_a_case_a_data_protection_officer_erased_is_left_alone(intake: Intake) -> None:
    case_id = (await intake.open_case())["case_id"]
    await withdraw(intake, case_id)
    closed_at = (await wait_closed(intake, case_id))["closed_at"]
    response = await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO)
    assert response.status_code == 200, response.text

    assert await sweep(intake, timedelta(days=1), closed_at + timedelta(days=2))() == 0
    [*_, recorded] = await intake.runtime.store.load(f"case-{case_id}")
    assert recorded.envelope.data["reason"] == "requested"


@pytest.mark.parametrize(
    ("event", "bearing"),
    [
        (observed.EligibilityDecided(case_id="c", eligible=False, decided_at=NOW), "final"),
        (observed.EligibilityDecided(case_id="c", eligible=True, decided_at=NOW), None),
        (observed.DueDiligenceRejected(case_id="c", reasons=["x"], rejected_at=NOW), None),
        (observed.AssessmentClosed(case_id="c", reason="withdrawn", closed_at=NOW), "final"),
        (observed.MovementCancelled(case_id="c", cancelled_at=NOW), "final"),
        (
            observed.ArrivalConfirmed(
                case_id="c",
                programme_id="p",
                office="GT-GUA",
                destination_country="HN",
                arrived_at=NOW,
                confirmed_by="travel_officer",
            ),
            None,
        ),
        (observed.ReintegrationCompleted(case_id="c", completed_on=NOW.date()), "final"),
        (
            observed.ReintegrationStopped(case_id="c", reason="withdrawn", stopped_at=NOW),
            "final",
        ),
        (
            observed.ReintegrationEligibilityDecided(
                case_id="c", programme_id="p", decision="not_offered", decided_at=NOW
            ),
            "provisional",
        ),
        (
            observed.ReintegrationEligibilityDecided(
                case_id="c", programme_id="p", decision="granted", decided_at=NOW
            ),
            "reopened",
        ),
    ],
    ids=lambda v: getattr(v, "event_type", str(v)).rsplit(".", 1)[-1],
)
def test_which_events_close_a_case(event: Any, bearing: str | None) -> None:
    assert closing_of(event) == bearing


@pytest.fixture
async def quick_retention(
    service_settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Intake]:
    """Intake whose scheduled sweep erases cases closed for two seconds, looking twice a second."""
    monkeypatch.setenv("AVRR_RETENTION_DAYS", str(2 / 86_400))
    monkeypatch.setenv("AVRR_RETENTION_SWEEP_INTERVAL", "0.5")
    async with running(service, service_settings, base_url="http://intake", headers=CASEWORKER) as (
        runtime,
        http,
    ):
        yield Intake(runtime, http)


async def test_the_scheduled_sweep_erases_a_closed_case_by_itself(
    quick_retention: Intake, database_url: str
) -> None:
    intake = quick_retention
    closed = (await intake.open_case())["case_id"]
    still_open = (await intake.open_case(referral(nationality="PE")))["case_id"]
    await withdraw(intake, closed)

    case = await intake.wait_for(closed, version=3)
    assert case["personal_data_erased"] is True
    assert case["erasure"]["reason"] == "retention"
    assert (await intake.case(still_open)).json()["personal_data_erased"] is False
    [job] = [j for j in intake.runtime.jobs if j.name == "retention"]
    assert job.leader and job.items == 1
    assert PRINCIPAL_NAME not in await database_dump(database_url)
    timeline = (await intake.http.get(f"/cases/{closed}/timeline")).json()["items"]
    assert timeline[-1]["summary"].endswith("retention period over)")
