"""Reopening a withdrawn or closed case when the person comes back and consents again: the
same case and stream (one history), the consents of before lapse, the retention clock
stops; an erased case cannot be reopened, not even racing its erasure. On real PostgreSQL
and Kafka."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from generated_cases import envelope
from intake_fixtures import DPO, Intake, answered, consent, publish

from avrr_events import ERASED
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually
from avrr_intake import retention
from avrr_intake.case import CaseReopened
from avrr_intake.events import registry

WORDS = "Volví porque en Cochabamba me amenazaron otra vez."


async def _withdrawn(intake: Intake) -> tuple[str, str, str]:
    """A case whose return was requested, then withdrawn: (case id, mother, child)."""
    case_id, mother, child = await intake.return_requested()
    withdrawn = answered(
        await intake.http.post(f"/cases/{case_id}/withdrawal", json={"reason": "changed_mind"})
    )
    await intake.wait_for(case_id, version=withdrawn["version"])
    return case_id, mother, child


def _reopening(person_id: str, **body: Any) -> dict[str, Any]:
    return {"reason": "person_returned", "consent": consent(person_id), **body}


async def test_a_withdrawn_case_reopens_with_the_persons_consent_given_again(
    intake: Intake,
) -> None:
    case_id, mother, child = await _withdrawn(intake)
    http = intake.http
    path = f"/cases/{case_id}/reopening"
    for body, field in (
        ({"reason": "person_returned"}, "consent"),
        (_reopening(mother, reason="bored"), "reason"),
        (
            _reopening(mother, consent=consent(mother, "contact_by_programme")),
            "consent",
        ),
        (_reopening(mother, note="x" * 2001), "note"),
    ):
        refused = await http.post(path, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == [field], refused.text

    reopened = answered(await http.post(path, json=_reopening(mother, note=WORDS)))
    assert reopened["events"] == ["avrr.intake.CaseReopened", "avrr.intake.ConsentGiven"]
    records = await intake.runtime.store.load(f"case-{case_id}")
    assert [r.envelope.subject for r in records] == [case_id] * len(records), "one stream"
    [stored] = [r.envelope for r in records if r.envelope.type == "avrr.intake.CaseReopened"]
    assert WORDS not in json.dumps(stored.data), "the person's words travel encrypted"
    event = registry.decode(stored)
    assert isinstance(event, CaseReopened) and event.previous_status == "withdrawn"
    assert event.resumes_return, "the case had applied: its return resumes"

    case = await intake.wait_for(case_id, version=reopened["version"])
    assert case["status"] == "suspended_by_consent"
    [reopening] = case["reopenings"]
    assert reopening["note"] == WORDS and reopening["ended"]["reason"] == "changed_mind"
    assert case["withdrawal"] is None
    statuses = {(c["person_id"], c["purpose"]): c["status"] for c in case["consents"]}
    assert statuses[(mother, "return_assistance_processing")] == "given"
    assert statuses[(child, "return_assistance_processing")] == "lapsed"

    # The child's consent lapsed with the case: the return waits for it, then resumes
    # (the same request, where it stood in every service, as after a withdrawn consent).
    waiting = await http.post(
        f"/cases/{case_id}/return-request", json={"destination_country": "BO"}
    )
    assert waiting.status_code == 422, waiting.text
    assert waiting.json()["missing_consents"] == ["return_assistance_processing"]
    again = answered(
        await http.post(
            f"/cases/{case_id}/consents",
            json=consent(child, given_by="guardian", representative_person_id=mother),
        ),
        201,
    )
    assert again["events"] == ["avrr.intake.ConsentGiven", "avrr.intake.ReturnResumed"]
    assert (await intake.wait_for(case_id, version=again["version"]))["status"] == (
        "return_requested"
    )

    timeline = answered(await http.get(f"/cases/{case_id}/timeline"))["items"]
    types = [i["type"] for i in timeline]
    assert types.index("avrr.intake.CaseWithdrawn") < types.index("avrr.intake.CaseReopened")
    assert types.index("avrr.intake.CaseReopened") < types.index("avrr.intake.ReturnResumed")
    assert WORDS not in json.dumps(timeline)
    state = answered(await http.get(f"/cases/{case_id}/state"))
    assert state["phase"] == "return_requested" and state["withdrawal_reason"] is None

    # The retention clock stopped: a reopened case is not erased for its old closure.
    async def clock_stopped() -> bool:
        async with intake.runtime.db.autocommit() as conn:
            row = await retention.closure_of(conn, case_id)
        return row is not None and row["closed_at"] is None and not row["final"]

    await eventually(clock_stopped, timeout=30)


async def test_only_a_withdrawn_or_closed_case_reopens(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    mother = intake.person(created, "principal")
    path = f"/cases/{case_id}/reopening"
    refused = await intake.http.post(path, json=_reopening(mother))
    assert refused.status_code == 422, refused.text
    assert refused.json()["case_status"] == "open"
    # Closed before it applied: reopened, it is open (a return is requested afresh).
    closed = answered(
        await intake.http.post(f"/cases/{case_id}/closure", json={"reason": "unreachable"})
    )
    await intake.wait_for(case_id, version=closed["version"])
    reopened = answered(await intake.http.post(path, json=_reopening(mother)))
    case = await intake.wait_for(case_id, version=reopened["version"])
    assert case["status"] == "open" and case["closure"] is None
    assert case["reopenings"][0]["previous_status"] == "closed"
    elsewhere = await intake.http.post(
        path,
        json=_reopening(mother),
        headers={"X-AVRR-User": "cw-pt", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "PT-LIS"},
    )
    assert elsewhere.status_code == 403


async def test_an_erased_case_cannot_be_reopened_not_even_racing_its_erasure(
    intake: Intake,
) -> None:
    # Erased first: refused, and no key is made anew for the erased people.
    case_id, mother, _child = await _withdrawn(intake)
    answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    refused = await intake.http.post(
        f"/cases/{case_id}/reopening", json=_reopening(mother, note=WORDS)
    )
    assert refused.status_code == 422, refused.text
    assert "erased" in refused.json()["detail"]
    assert await intake.runtime.cipher.keys.get(mother) is None
    assert "avrr.intake.CaseReopened" not in await intake.event_types(case_id)

    # At the same moment: whichever comes first, the case ends erased, and whatever the
    # reopening wrote of the person is unreadable.
    case_id, mother, _child = await _withdrawn(intake)
    reopening, erasure = await asyncio.gather(
        intake.http.post(f"/cases/{case_id}/reopening", json=_reopening(mother, note=WORDS)),
        intake.http.post(f"/cases/{case_id}/erasure", headers=DPO),
    )
    assert erasure.status_code in (200, 409), erasure.text
    assert reopening.status_code in (200, 409, 422), reopening.text
    for response in (reopening, erasure):
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
    if erasure.status_code == 409:
        # Lost the race to the reopening: the data protection officer's retry erases it.
        answered(await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO))
    types = await intake.event_types(case_id)
    assert types[-1] == "avrr.intake.PersonalDataErased" or (
        "avrr.intake.PersonalDataErased" in types and "avrr.intake.CaseReopened" not in types
    ), types
    for record in await intake.runtime.store.load(f"case-{case_id}"):
        if record.envelope.type == "avrr.intake.CaseReopened":
            note = registry.decode(record.envelope).note  # type: ignore[attr-defined]
            assert await intake.runtime.cipher.decrypt(note) is ERASED
    assert await intake.runtime.cipher.keys.get(mother) is None
    after = await intake.http.post(f"/cases/{case_id}/reopening", json=_reopening(mother))
    assert after.status_code == 422, after.text


async def test_a_withdrawals_late_closures_elsewhere_do_not_restart_the_clock_of_a_reopened_case(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    """Eligibility's and travel's closures caused by the withdrawal may reach intake after the
    reopening: they are of what the case did before, and the retention clock stays stopped
    until the return goes on (ReturnResumed); a closure after that counts again."""
    case_id, mother, child = await _withdrawn(intake)
    answered(await intake.http.post(f"/cases/{case_id}/reopening", json=_reopening(mother)))
    topic = intake.runtime.settings.topic
    at = datetime.now(UTC)
    late = envelope(
        "eligibility",
        "AssessmentClosed",
        case_id,
        at,
        {"case_id": case_id, "reason": "case withdrawn at intake", "closed_at": at.isoformat()},
    )
    await publish(kafka_settings, [late.to_message(topic("eligibility"))])

    async def closure() -> dict[str, object] | None:
        async with intake.runtime.db.autocommit() as conn:
            return await retention.closure_of(conn, case_id)

    async def seen(event_type: str) -> bool:
        items = (await intake.http.get(f"/cases/{case_id}/timeline")).json()["items"]
        return any(i["type"] == event_type for i in items)

    await eventually(lambda: seen("avrr.eligibility.AssessmentClosed"), timeout=30)
    row = await closure()
    assert row is not None and row["closed_at"] is None, row

    resumed = answered(
        await intake.http.post(
            f"/cases/{case_id}/consents",
            json=consent(child, given_by="guardian", representative_person_id=mother),
        ),
        201,
    )
    assert resumed["events"][-1] == "avrr.intake.ReturnResumed"
    await eventually(lambda: seen("avrr.intake.ReturnResumed"), timeout=30)
    at = datetime.now(UTC)
    cancelled = envelope(
        "travel",
        "MovementCancelled",
        case_id,
        at,
        {"case_id": case_id, "cancelled_at": at.isoformat()},
    )
    await publish(kafka_settings, [cancelled.to_message(topic("travel"))])

    async def clock_running() -> bool:
        row = await closure()
        return row is not None and row["closed_at"] is not None

    await eventually(clock_running, timeout=30)
