"""Feedback and complaints: recorded by staff (with the person's case, or anonymously) or a
partner; a complaint of sexual exploitation and abuse or staff misconduct reaches the focal
point only, never the case's office (every role of it gets 404, its timeline and reports do
not show it); acknowledged and resolved before deadlines, with an overdue list; an
acknowledgement racing a resolution loses with 409; reports by office and category with
small cells suppressed. On real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from generated_cases import envelope
from intake_fixtures import DPO, Intake, answered, publish
from sqlalchemy import select

from avrr_events import tables
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES
from avrr_intake.feedback import FeedbackDeadlines, feedback_items


def user(name: str, roles: str, offices: str) -> dict[str, str]:
    return {"X-AVRR-User": name, "X-AVRR-Roles": roles, "X-AVRR-Offices": offices}


GUATEMALA = user("cw-gt", "caseworker", "GT-GUA")
GUATEMALA_SUPERVISOR = user("sup-gt", "supervisor", "GT-GUA")
TAPACHULA = user("cw-mx", "caseworker", "MX-TAP")
FOCAL_POINT = user("fp-pa", "focal_point", "PA-PTY")  # a regional focal point elsewhere
HEADQUARTERS_FOCAL_POINT = user("fp-hq", "focal_point", "*")
GUATEMALA_FOCAL_POINT = user("fp-gt", "focal_point,caseworker", "GT-GUA")
PARTNER = user("ngo-1", "referrer", "GT-GUA")
NOTE = "Derivada a protección; guardia suspendido"
WORDS = "El guardia del albergue me pidió favores a cambio del boleto — Rosa Quispe"


async def _case(intake: Intake) -> tuple[str, str]:
    created = await intake.open_case()
    return str(created["case_id"]), intake.person(created, "principal")


async def _record(
    intake: Intake, headers: dict[str, str] = GUATEMALA, status: int = 201, **body: Any
) -> dict[str, Any]:
    payload = {"category": "service_quality", "office": "GT-GUA", "text": WORDS, **body}
    return answered(await intake.http.post("/feedback", json=payload, headers=headers), status)


async def _listed(intake: Intake, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = answered(
        await intake.http.get("/feedback", headers=headers, params=params)
    )["items"]
    return items


async def _projected(intake: Intake, feedback_id: str, status: str = "recorded") -> None:
    async def there() -> bool:
        async with intake.runtime.db.autocommit() as conn:
            got = await conn.scalar(
                select(feedback_items.c.status).where(feedback_items.c.feedback_id == feedback_id)
            )
        return got == status

    await eventually(there, timeout=30)


async def test_a_complaint_of_abuse_reaches_the_focal_point_and_never_the_cases_office(
    intake: Intake,
) -> None:
    case_id, person = await _case(intake)
    recorded = await _record(
        intake, category="sexual_exploitation_abuse", case_id=case_id, person_id=person
    )
    feedback_id = recorded["feedback_id"]
    assert recorded["routed_to"] == "focal_point"
    await _projected(intake, feedback_id)

    # The focal point, of another office or of headquarters, lists it and reads the words.
    for focal_point in (FOCAL_POINT, HEADQUARTERS_FOCAL_POINT):
        assert [i["feedback_id"] for i in await _listed(intake, focal_point)] == [feedback_id]
        detail = answered(await intake.http.get(f"/feedback/{feedback_id}", headers=focal_point))
        assert detail["text"] == WORDS
        assert detail["channel"] == "caseworker"
        assert detail["case_id"] == case_id

    # Every role of the case's office, a focal point of it included: 404, and none listed.
    for role in [*ROLES, "focal_point,caseworker"]:
        headers = user(f"{role}-gt", str(role), "GT-GUA")
        got = await intake.http.get(f"/feedback/{feedback_id}", headers=headers)
        assert got.status_code in (403, 404), (role, got.status_code)
        acknowledged = await intake.http.post(
            f"/feedback/{feedback_id}/acknowledgement", headers=headers
        )
        assert acknowledged.status_code in (403, 404), (role, acknowledged.status_code)
        listed = await intake.http.get("/feedback", headers=headers)
        assert listed.status_code == 403 or listed.json()["items"] == [], role
    assert (
        await intake.http.get(f"/feedback/{feedback_id}", headers=GUATEMALA_SUPERVISOR)
    ).status_code == 404

    # Not on the case's timeline, not keyed or correlated by the case, words never in clear.
    timeline = answered(await intake.http.get(f"/cases/{case_id}/timeline"))
    assert "Feedback" not in json.dumps(timeline)
    stored = await intake.runtime.store.load(f"feedback-{feedback_id}")
    assert [r.envelope.subject for r in stored] == [feedback_id]
    assert stored[0].envelope.correlationid == feedback_id
    async with intake.runtime.db.autocommit() as conn:
        rows = (await conn.execute(select(tables.events.c.data))).all()
    assert "albergue" not in json.dumps([r.data for r in rows], ensure_ascii=False, default=str)

    # The focal point acknowledges and resolves it.
    answered(
        await intake.http.post(f"/feedback/{feedback_id}/acknowledgement", headers=FOCAL_POINT)
    )
    resolved = await intake.http.post(
        f"/feedback/{feedback_id}/resolution",
        json={
            "outcome": "referred_to_service",
            "note": "Derivada a protección; guardia suspendido",
        },
        headers=FOCAL_POINT,
    )
    assert answered(resolved)["events"] == ["avrr.intake.FeedbackResolved"]
    detail = answered(await intake.http.get(f"/feedback/{feedback_id}", headers=FOCAL_POINT))
    assert detail["status"] == "resolved"
    assert detail["resolution"]["note"] == NOTE


async def test_ordinary_feedback_goes_to_the_office_concerned_only(intake: Intake) -> None:
    feedback_id = (await _record(intake))["feedback_id"]  # staff, without a case: anonymous
    await _projected(intake, feedback_id)
    [item] = [i for i in await _listed(intake, GUATEMALA) if i["feedback_id"] == feedback_id]
    assert item["channel"] == "anonymous" and item["routed_to"] == "office"
    assert "text" not in item
    detail = answered(await intake.http.get(f"/feedback/{feedback_id}", headers=GUATEMALA))
    assert detail["text"] == WORDS and detail["case_id"] is None
    # Another office's staff and the focal point (it handles complaints routed to it) do not.
    for headers in (TAPACHULA, FOCAL_POINT):
        assert (
            await intake.http.get(f"/feedback/{feedback_id}", headers=headers)
        ).status_code == 404
        assert feedback_id not in [i["feedback_id"] for i in await _listed(intake, headers)]


async def test_a_partner_records_without_a_case_and_reads_nothing(intake: Intake) -> None:
    case_id, person = await _case(intake)
    recorded = await _record(intake, PARTNER, category="delay")
    await _projected(intake, recorded["feedback_id"])
    detail = answered(
        await intake.http.get(f"/feedback/{recorded['feedback_id']}", headers=GUATEMALA)
    )
    assert detail["channel"] == "partner"
    await _record(intake, PARTNER, 403, case_id=case_id, person_id=person)
    assert (await intake.http.get("/feedback", headers=PARTNER)).status_code == 403
    # A person belongs with a case; a case of another office is not the caller's to link.
    await _record(intake, status=422, person_id=person)
    await _record(intake, TAPACHULA, 403, case_id=case_id, person_id=person)
    problem = await _record(intake, status=422, case_id=case_id, person_id="someone-else")
    assert problem["field"] == "person_id"
    problem = await _record(intake, status=422, office="XX-NOWHERE")
    assert problem["field"] == "office"


async def test_an_acknowledgement_racing_a_resolution_loses_one_of_them(intake: Intake) -> None:
    feedback_id = (await _record(intake))["feedback_id"]
    acknowledged, resolved = await asyncio.gather(
        intake.http.post(f"/feedback/{feedback_id}/acknowledgement", headers=GUATEMALA),
        intake.http.post(
            f"/feedback/{feedback_id}/resolution",
            json={"outcome": "addressed"},
            headers=GUATEMALA_SUPERVISOR,
        ),
    )
    assert sorted([acknowledged.status_code, resolved.status_code]) in ([200, 409], [200, 200])
    stored = await intake.runtime.store.load(f"feedback-{feedback_id}")
    # Never a lost update: each append that succeeded is in the stream, in order.
    assert len(stored) == 1 + [acknowledged.status_code, resolved.status_code].count(200)
    # A stale If-Match is 412; a second resolution 409.
    stale = await intake.http.post(
        f"/feedback/{feedback_id}/resolution",
        json={"outcome": "addressed"},
        headers={**GUATEMALA, "If-Match": '"1"'},
    )
    assert stale.status_code in (409, 412)


async def test_an_item_resolved_before_its_acknowledgement_refuses_it_with_a_conflict(
    intake: Intake,
) -> None:
    """The order the race above takes when the resolution wins: a 409 that says the item's
    status (once a 500, its extension named ``status`` like the problem's own member)."""
    feedback_id = (await _record(intake))["feedback_id"]
    resolution = {"outcome": "addressed"}
    path = f"/feedback/{feedback_id}"
    answered(await intake.http.post(f"{path}/resolution", json=resolution, headers=GUATEMALA))
    for late in ("acknowledgement", "resolution"):
        refused = await intake.http.post(f"{path}/{late}", json=resolution, headers=GUATEMALA)
        assert refused.status_code == 409, refused.text
        assert refused.json()["status"] == 409
        assert refused.json()["feedback_status"] == "resolved"


async def test_the_overdue_list_names_items_past_a_deadline(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_time = (await _record(intake))["feedback_id"]

    def already_due(self: FeedbackDeadlines, category: str, at: datetime) -> Any:
        return at - timedelta(hours=1), at + timedelta(days=30)

    monkeypatch.setattr(FeedbackDeadlines, "due", already_due)
    late = (await _record(intake))["feedback_id"]
    await _projected(intake, late)
    overdue = {i["feedback_id"] for i in await _listed(intake, GUATEMALA, overdue="true")}
    assert late in overdue and on_time not in overdue
    answered(await intake.http.post(f"/feedback/{late}/acknowledgement", headers=GUATEMALA))
    await _projected(intake, late, "acknowledged")
    overdue = {i["feedback_id"] for i in await _listed(intake, GUATEMALA, overdue="true")}
    assert late not in overdue


async def test_reports_count_by_office_and_category_without_personal_data(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVRR_PUBLIC_MIN_HOUSEHOLDS", "3")
    ids = []
    for category, times in (("delay", 4), ("travel_arrangements", 4), ("appreciation", 1)):
        for _ in range(times):
            recorded = await _record(intake, category=category, office="HN-TGU")
            ids.append(recorded["feedback_id"])
    ids.append((await _record(intake, category="staff_misconduct", office="HN-TGU"))["feedback_id"])
    for feedback_id in ids:
        await _projected(intake, feedback_id)
    supervisor = user("sup-hn", "supervisor", "HN-TGU")
    report = answered(await intake.http.get("/reports/feedback", headers=supervisor))
    cells = {c["category"]: c for c in report["by_office_and_category"]}
    # One item: suppressed, and the next smallest with it, lest subtraction give it away.
    assert cells["appreciation"]["items"] is None and cells["appreciation"]["suppressed"]
    assert cells["delay"]["items"] is None
    assert cells["travel_arrangements"]["items"] == 4
    assert "staff_misconduct" not in cells  # the office's reports never count its complaints
    auditor = user("aud-hn", "auditor", "HN-TGU")
    assert answered(await intake.http.get("/reports/feedback", headers=auditor)) == report
    focal = answered(await intake.http.get("/reports/feedback", headers=HEADQUARTERS_FOCAL_POINT))
    hn = [c for c in focal["by_office_and_category"] if c["office"] == "HN-TGU"]
    assert [c["category"] for c in hn] == ["staff_misconduct"]
    assert WORDS not in json.dumps(report) + json.dumps(focal)


async def test_the_words_of_an_erased_person_are_gone(intake: Intake) -> None:
    case_id, person = await _case(intake)
    feedback_id = (await _record(intake, case_id=case_id, person_id=person))["feedback_id"]
    answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    detail = answered(await intake.http.get(f"/feedback/{feedback_id}", headers=GUATEMALA))
    assert detail["text"] != WORDS


async def test_the_satisfaction_question_of_monitoring_visits_feeds_the_report(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    """Reintegration's answers at the 1- and 6-month visits, by office and visit month."""
    cases = [(await _case(intake))[0] for _ in range(2)]
    topic = intake.runtime.settings.topic("reintegration")
    now = datetime.now(UTC)
    visits = [(cases[0], 1, 4), (cases[1], 1, 2), (cases[0], 6, 5)]
    records = [
        envelope(
            "reintegration",
            "MonitoringVisitRecorded",
            case_id,
            now,
            {
                "case_id": case_id,
                "due_month": month,
                "visited_on": str(now.date()),
                "satisfaction": score,
            },
        ).to_message(topic)
        for case_id, month, score in visits
    ]
    await publish(kafka_settings, records)
    headquarters = user("aud-hq", "auditor", "*")

    async def reported() -> list[dict[str, Any]]:
        body = answered(await intake.http.get("/reports/feedback", headers=headquarters))
        rows: list[dict[str, Any]] = body["satisfaction_by_office_and_visit"]
        return rows

    async def all_in() -> bool:
        return bool(sum(r["answers"] for r in await reported()) == 3)

    await eventually(all_in, timeout=30)
    assert await reported() == [
        {"office": "GT-GUA", "due_month": 1, "answers": 2, "satisfied": 1, "mean_score": 3.0},
        {"office": "GT-GUA", "due_month": 6, "answers": 1, "satisfied": 1, "mean_score": 5.0},
    ]
    # Outside headquarters, a handful of answers is suppressed.
    office = answered(await intake.http.get("/reports/feedback", headers=GUATEMALA_SUPERVISOR))
    assert all(r["suppressed"] for r in office["satisfaction_by_office_and_visit"])
