"""The satisfaction question of the 1- and 6-month monitoring visits (issue 19): an optional
coded answer (1 very dissatisfied .. 5 very satisfied) published in MonitoringVisitRecorded,
which intake's feedback report counts by office and visit. On real PostgreSQL and Kafka."""

from __future__ import annotations

from reintegration_fixtures import RunningReintegration


async def test_a_visit_records_the_returnees_satisfaction_in_its_event(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("s1")
    visit = {"due_month": 1, "visited_on": "2026-04-17", "satisfaction": 4}
    assert (await r.post("/cases/s1/monitoring-visits", visit)).status_code == 201
    beyond = {"due_month": 6, "visited_on": "2026-09-15", "satisfaction": 9}
    out_of_scale = await r.post("/cases/s1/monitoring-visits", beyond)
    assert out_of_scale.status_code == 422
    assert "satisfaction" in out_of_scale.text
    unanswered = {"due_month": 3, "visited_on": "2026-06-15"}
    assert (await r.post("/cases/s1/monitoring-visits", unanswered)).status_code == 201
    stored = await r.runtime.store.load("reintegration-s1")
    visits = [e.envelope.data for e in stored if e.envelope.type.endswith("VisitRecorded")]
    assert [(v["due_month"], v.get("satisfaction")) for v in visits] == [(1, 4), (3, None)]
