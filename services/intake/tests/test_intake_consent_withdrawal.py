"""A consent withdrawal records why, never leaves a case stuck, and hides what it covered.

- The reason is coded, the person's own words are encrypted under their key;
  a withdrawal recorded before the reason existed still reads.
- Withdrawing a consent the return needs after the return was requested
  suspends the return (``suspended_by_consent``, phase ``suspended``); the
  case is then closed, or resumed when every member consents again.
- Withdrawing ``contact_by_programme`` hides the contact details in the case file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from intake_fixtures import Intake, answered, consent

from avrr_events import Envelope
from avrr_intake.consent import ConsentWithdrawn
from avrr_intake.events import registry


async def _withdraw(intake: Intake, case_id: str, purpose: str, **body: Any) -> dict[str, Any]:
    path = f"/cases/{case_id}/consents/{purpose}/withdrawal"
    return answered(await intake.http.post(path, json={"reason": "other", **body}))


async def test_a_consent_withdrawal_needs_a_coded_reason_and_keeps_the_persons_words_encrypted(
    intake: Intake,
) -> None:
    case_id, mother, _child = await intake.return_requested()
    path = f"/cases/{case_id}/consents/contact_by_programme/withdrawal"
    given = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(mother, "contact_by_programme")
    )
    assert given.status_code == 201, given.text

    for body, field in (
        ({"person_id": mother}, "reason"),
        ({"person_id": mother, "reason": "bored"}, "reason"),
        ({"person_id": mother, "reason": "other", "note": "x" * 2001}, "note"),
    ):
        refused = await intake.http.post(path, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == [field], refused.text

    words = "Mi esposo no quiere que me llamen."
    done = await _withdraw(
        intake,
        case_id,
        "contact_by_programme",
        person_id=mother,
        reason="safety_concerns",
        note=words,
    )
    [recorded] = [
        r.envelope
        for r in await intake.runtime.store.load(f"case-{case_id}")
        if r.envelope.type == "avrr.intake.ConsentWithdrawn"
    ]
    assert recorded.data["reason"] == "safety_concerns"
    assert words not in json.dumps(recorded.data), "the person's words travel encrypted"
    event = registry.decode(recorded)
    assert isinstance(event, ConsentWithdrawn) and event.note is not None
    assert await intake.runtime.cipher.decrypt(event.note) == words

    case = await intake.wait_for(case_id, version=done["version"])
    [shown] = case["consent_withdrawals"]
    assert (shown["purpose"], shown["reason"], shown["note"]) == (
        "contact_by_programme",
        "safety_concerns",
        words,
    )
    timeline = (await intake.http.get(f"/cases/{case_id}/timeline")).json()["items"]
    [entry] = [i for i in timeline if i["type"] == "avrr.intake.ConsentWithdrawn"]
    assert entry["facts"]["reason"] == "safety_concerns"
    assert entry["summary"].endswith(": safety concerns")
    assert "note" not in entry["facts"] and words not in json.dumps(timeline)


def test_a_withdrawal_recorded_before_reasons_existed_still_reads() -> None:
    old = Envelope(
        source="/avrr/intake",
        type="avrr.intake.ConsentWithdrawn",
        subject="case-1",
        dataschema="urn:avrr:intake:ConsentWithdrawn:1",
        dataversion=1,
        correlationid="case-1",
        data={
            "case_id": "case-1",
            "person_id": None,
            "purpose": "contact_by_programme",
            "withdrawn_at": datetime(2026, 1, 2, tzinfo=UTC).isoformat(),
            "recorded_by": "caseworker-1",
        },
    )
    event = registry.decode(old)
    assert isinstance(event, ConsentWithdrawn)
    assert (event.reason, event.note) == (None, None)


async def test_withdrawing_the_return_consent_suspends_the_return_until_it_is_given_again(
    intake: Intake,
) -> None:
    case_id, mother, child = await intake.return_requested()
    # A purpose the return does not need changes nothing about it.
    given = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(mother, "share_with_authorities")
    )
    assert given.status_code == 201, given.text
    other = await _withdraw(intake, case_id, "share_with_authorities", reason="changed_mind")
    assert other["events"] == ["avrr.intake.ConsentWithdrawn"]

    # Withdrawn for the child alone: the household's return is suspended.
    suspended = await _withdraw(
        intake, case_id, "return_assistance_processing", person_id=child, reason="safety_concerns"
    )
    assert suspended["events"] == ["avrr.intake.ConsentWithdrawn", "avrr.intake.ReturnSuspended"]
    case = await intake.wait_for(case_id, version=suspended["version"])
    assert case["status"] == "suspended_by_consent"
    assert case["suspension"]["missing_consents"] == {"return_assistance_processing": [child]}
    state = (await intake.http.get(f"/cases/{case_id}/state")).json()
    assert state["phase"] == "suspended"
    listed = (await intake.http.get("/cases", params={"status": "suspended_by_consent"})).json()
    assert case_id in [c["case_id"] for c in listed["items"]]

    # Not a new request: the suspended one resumes when the consent is given again.
    again = await intake.http.post(
        f"/cases/{case_id}/return-request", json={"destination_country": "BO"}
    )
    assert again.status_code == 422, again.text
    assert again.json()["missing_consents"] == ["return_assistance_processing"]

    resumed = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(child, given_by="guardian", representative_person_id=mother),
    )
    assert resumed.status_code == 201, resumed.text
    assert resumed.json()["events"] == ["avrr.intake.ConsentGiven", "avrr.intake.ReturnResumed"]
    case = await intake.wait_for(case_id, version=resumed.json()["version"])
    assert case["status"] == "return_requested" and case["suspension"] is None
    state = (await intake.http.get(f"/cases/{case_id}/state")).json()
    assert state["phase"] == "return_requested"


async def test_a_suspended_case_is_closed_with_a_coded_reason_not_left_hanging(
    intake: Intake,
) -> None:
    case_id, _mother, _child = await intake.return_requested()
    # A requested return is withdrawn, not closed: other services are working on it.
    early = await intake.http.post(f"/cases/{case_id}/closure", json={"reason": "changed_mind"})
    assert early.status_code == 422, early.text
    assert early.json()["case_status"] == "return_requested"

    await _withdraw(intake, case_id, "return_assistance_processing", reason="changed_mind")
    bad = await intake.http.post(f"/cases/{case_id}/closure", json={"reason": "tired"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason", bad.text

    closed = await intake.http.post(
        f"/cases/{case_id}/closure",
        json={"reason": "staying_in_host_country", "note": "Encontró trabajo aquí."},
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["events"] == ["avrr.intake.CaseClosed"]
    case = await intake.wait_for(case_id, version=closed.json()["version"])
    assert case["status"] == "closed"
    assert case["closure"]["reason"] == "staying_in_host_country"
    assert case["closure"]["note"] == "Encontró trabajo aquí."
    assert (await intake.http.get(f"/cases/{case_id}/state")).json()["phase"] == "closed"


async def test_contact_details_are_hidden_while_contact_by_the_programme_is_withdrawn(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    mother = intake.person(created, "principal")
    given = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(mother, "contact_by_programme")
    )
    assert given.status_code == 201, given.text
    case = await intake.wait_for(case_id, version=given.json()["version"])
    assert case["contact"]["phone"] == "+502 5555 0199"

    withdrawn = await _withdraw(
        intake, case_id, "contact_by_programme", person_id=mother, reason="safety_concerns"
    )
    case = await intake.wait_for(case_id, version=withdrawn["version"])
    assert case["contact"] == "consent_withdrawn"
    assert "5555 0199" not in json.dumps(case)

    again = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(mother, "contact_by_programme")
    )
    case = await intake.wait_for(case_id, version=again.json()["version"])
    assert case["contact"]["phone"] == "+502 5555 0199"
