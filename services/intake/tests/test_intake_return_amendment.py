"""A requested return amended before clearance (another destination), refused after it.

Intake refuses the change (409) once it has seen the clearance; a change that
raced with a clearance it had not seen yet is refused by eligibility
(AmendmentRefused), and the case then records ReturnAmendmentRefused with the
destination cleared.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from generated_cases import envelope
from intake_fixtures import Intake, answered, consent, publish

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually

AMENDED = "avrr.intake.ReturnRequestAmended"
REFUSED = "avrr.intake.ReturnAmendmentRefused"


def amendment(country: str = "PE", **more: Any) -> dict[str, Any]:
    return {"destination_country": country, "reason": "family_situation", **more}


async def requested(intake: Intake) -> tuple[str, int]:
    """A case of a mother and child whose return to Bolivia was requested; its version."""
    created = await intake.open_case()
    case_id = created["case_id"]
    mother, child = intake.person(created, "principal"), intake.person(created, "child")
    answered(await intake.http.post(f"/cases/{case_id}/consents", json=consent(mother)), 201)
    answered(
        await intake.http.post(
            f"/cases/{case_id}/consents",
            json=consent(child, given_by="guardian", representative_person_id=mother),
        ),
        201,
    )
    answer = answered(
        await intake.http.post(
            f"/cases/{case_id}/return-request", json={"destination_country": "BO"}
        ),
        201,
    )
    return case_id, int(answer["version"])


async def from_service(
    service: str,
    intake: Intake,
    kafka_settings: KafkaSettings,
    name: str,
    case_id: str,
    data: dict[str, Any],
) -> None:
    """``service``'s event ``name`` about the case, published on its topic for intake."""
    record = envelope(service, name, case_id, datetime.now(UTC), {"case_id": case_id, **data})
    await publish(kafka_settings, [record.to_message(intake.runtime.settings.topic(service))])


from_eligibility = partial(from_service, "eligibility")


async def timeline_line_and_state(
    intake: Intake, case_id: str, event_type: str
) -> tuple[str, dict[str, Any]]:
    """The summary of the case timeline's one line of ``event_type``, and the case's state:
    where a change of the case shows besides the case file."""
    timeline = (await intake.http.get(f"/cases/{case_id}/timeline")).json()["items"]
    [line] = [e for e in timeline if e["type"] == event_type]
    state = (await intake.http.get(f"/cases/{case_id}/state")).json()
    return str(line["summary"]), state


async def cleared_by_eligibility(
    intake: Intake, kafka_settings: KafkaSettings, case_id: str
) -> None:
    """Eligibility's DueDiligenceCleared of the case on Kafka: a woman of 30, to BO by air."""
    household = [{"person_id": str(uuid.uuid4()), "age_years": 30, "sex": "female"}]
    cleared = {
        "programme_id": "avrr-gt",
        "office": "GT-GUA",
        "host_country": "GT",
        "destination_country": "BO",
        "transport_mode": "air",
        "household": household,
        "cleared_at": datetime.now(UTC).isoformat(),
    }
    await from_eligibility(intake, kafka_settings, "DueDiligenceCleared", case_id, cleared)


async def test_an_amendment_before_clearance_changes_the_destination_with_its_reason(
    intake: Intake,
) -> None:
    case_id, _ = await requested(intake)
    body = amendment("PE", destination_region="Puno", note="Her sister now lives in Puno")
    answer = answered(
        await intake.http.post(f"/cases/{case_id}/return-request/amendments", json=body), 201
    )
    assert answer["events"] == [AMENDED]
    [record] = [
        r for r in await intake.runtime.store.load(f"case-{case_id}") if r.envelope.type == AMENDED
    ]
    data = record.envelope.data
    assert data["changed"] == ["destination_country", "destination_region"]
    assert data["amended_by"] == "caseworker-1" and data["reason"] == "family_situation"
    assert "sister" not in str(data)  # the note is encrypted under the principal's key

    case = await intake.wait_for(case_id, version=answer["version"])
    assert case["return_request"]["destination_country"] == "PE"
    assert case["return_request"]["destination_region"] == "Puno"
    [amended] = case["return_amendments"]
    assert amended["note"] == "Her sister now lives in Puno"
    summary, state = await timeline_line_and_state(intake, case_id, AMENDED)
    assert summary == "Return request amended: destination PE (Puno); family situation"
    assert state["destination_country"] == "PE"


async def test_amendments_that_cannot_apply_are_refused_naming_why(intake: Intake) -> None:
    created = await intake.open_case()
    not_requested = await intake.http.post(
        f"/cases/{created['case_id']}/return-request/amendments", json=amendment()
    )
    assert not_requested.status_code == 409, not_requested.text
    assert not_requested.headers["content-type"] == "application/problem+json"

    case_id, _ = await requested(intake)
    path = f"/cases/{case_id}/return-request/amendments"
    for body, status, field in [
        (amendment("BO"), 422, "destination_country"),  # the request already reads so
        (amendment("XX"), 422, "destination_country"),
        (amendment("PE", destination_region="SV-UN"), 422, "destination_region"),
        ({"destination_country": "PE"}, 422, "reason"),
        (amendment("PE", reason="whim"), 422, "reason"),
    ]:
        response = await intake.http.post(path, json=body)
        assert response.status_code == status, (body, response.text)
        assert field in response.text, (field, response.text)
    assert AMENDED not in await intake.event_types(case_id)


async def test_two_amendments_at_the_same_version_one_wins_the_other_412(intake: Intake) -> None:
    case_id, version = await requested(intake)

    async def amend(country: str) -> int:
        response = await intake.http.post(
            f"/cases/{case_id}/return-request/amendments",
            json=amendment(country),
            headers={"If-Match": f'"{version}"'},
        )
        return response.status_code

    assert sorted(await asyncio.gather(amend("PE"), amend("AR"))) == [201, 412]
    assert (await intake.event_types(case_id)).count(AMENDED) == 1


async def test_after_clearance_the_amendment_is_refused_and_a_raced_one_is_undone(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    case_id, _ = await requested(intake)
    # The amendment intake accepted raced with a clearance: eligibility refused it.
    answer = answered(
        await intake.http.post(f"/cases/{case_id}/return-request/amendments", json=amendment("PE")),
        201,
    )
    [amended] = [
        r for r in await intake.runtime.store.load(f"case-{case_id}") if r.envelope.type == AMENDED
    ]
    await cleared_by_eligibility(intake, kafka_settings, case_id)
    await from_eligibility(
        intake,
        kafka_settings,
        "AmendmentRefused",
        case_id,
        {
            "amendment_id": amended.envelope.data["amendment_id"],
            "destination_country": "BO",
            "destination_region": None,
            "programme_hint": None,
            "refused_at": datetime.now(UTC).isoformat(),
        },
    )

    async def restored() -> bool:
        return REFUSED in await intake.event_types(case_id)

    await eventually(restored, timeout=30)
    case = await intake.wait_for(case_id, version=answer["version"] + 1)
    assert case["return_request"]["destination_country"] == "BO"

    async def cleared() -> bool:
        state = (await intake.http.get(f"/cases/{case_id}/state")).json()
        return bool(state.get("phase") == "cleared")

    await eventually(cleared, timeout=30)
    late = await intake.http.post(
        f"/cases/{case_id}/return-request/amendments", json=amendment("AR")
    )
    assert late.status_code == 409, late.text
    assert late.json()["case_phase"] == "cleared"
    assert "cleared for travel" in late.json()["detail"]
    # A second refusal of the same amendment (a redelivery) records nothing more.
    assert (await intake.event_types(case_id)).count(REFUSED) == 1


async def test_no_role_of_another_office_amends(intake: Intake) -> None:
    case_id, _ = await requested(intake)
    for role in ("caseworker", "supervisor", "data_protection_officer", "referrer"):
        elsewhere = {"X-AVRR-User": f"{role}-9", "X-AVRR-Roles": role, "X-AVRR-Offices": "HN-TGU"}
        response = await intake.http.post(
            f"/cases/{case_id}/return-request/amendments", json=amendment(), headers=elsewhere
        )
        assert response.status_code == 403, (role, response.text)
    assert AMENDED not in await intake.event_types(case_id)
