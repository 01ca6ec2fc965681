"""Every consent purpose has its effect in every service (docs/events.md, "What a withdrawn
consent does"), one test per purpose, on four separate processes over Kafka and PostgreSQL
and on the embedded default.

The four processes are started once for the module (starting them is most of the cost);
each test works on households of its own. Between a command and its effect in another
service the steps poll that service's read model (journey_steps.Platform.until).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from journey_steps import (
    CASEWORKER,
    MEDIC,
    RECEIVER,
    RECEIVING_OFFICE,
    REINTEGRATION_OFFICER,
    TRAVEL_OFFICER,
    Case,
    Platform,
    at_least,
    clear,
    open_case,
    request_return,
    status,
    ticket,
    today,
    travel_home,
)
from test_return_journey import embedded, process_starter, separate_processes

from avrr_events import testing
from avrr_events.testing import ServiceProcess

WITHDRAW = "/cases/{}/consents/{}/withdrawal"


@pytest.fixture(scope="module", params=["four_processes", "embedded"])
async def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    """The platform, shared by the module's tests: four processes over Kafka and PostgreSQL
    (the function-scoped ``service_processes`` fixture's own code, driven once for the
    module), then the embedded default (SQLite, in-process bus) a newcomer runs."""
    directory: Path = tmp_path_factory.mktemp(f"consent-effects-{request.param}")
    if request.param == "embedded":
        async with embedded(directory / "avrr-data") as p:
            yield p
        return
    kafka_bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    async with process_starter(request, directory) as start:

        async def one_by_one(*names: str, **env: str) -> dict[str, ServiceProcess]:
            # One at a time: on a loaded machine three starting at once outlast the
            # readiness wait, though each alone starts in time.
            started: dict[str, ServiceProcess] = {}
            for name in names:
                started.update(await start(name, **env))
            return started

        async with separate_processes(one_by_one, kafka_bootstrap) as p:
            yield p


async def withdraw(
    p: Platform, case: Case, purpose: str, person_id: str | None = None, **body: Any
) -> dict[str, Any]:
    payload = {"reason": "changed_mind", **body}
    if person_id is not None:
        payload["person_id"] = person_id
    done, _t = await p.post(
        "intake", WITHDRAW.format(case.case_id, purpose), payload, CASEWORKER, expect=200
    )
    return done


async def consent(p: Platform, case: Case, person_id: str, *purposes: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person_id": person_id,
        "purposes": list(purposes),
        "given_on": today(),
        "language": "es",
    }
    if person_id == case.child:
        body.update(given_by="guardian", representative_person_id=case.mother)
    given, _t = await p.post(
        "intake", f"/cases/{case.case_id}/consents", body, CASEWORKER, expect=201
    )
    return given


async def intake_shows(p: Platform, case: Case, version: int) -> dict[str, Any]:
    return await p.until(
        "intake", f"/cases/{case.case_id}", at_least(version), CASEWORKER, hop="intake", since=0
    )


async def arrived(p: Platform, n: int) -> Case:
    case = await open_case(p, n)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    await travel_home(p, case)
    return case


async def test_return_assistance_processing_withdrawn_suspends_the_return_everywhere(
    platform: Platform,
) -> None:
    """Intake suspends the case, eligibility closes the assessment, travel cancels the
    movement, reintegration agrees no plan; consent again takes every one of them up
    again, and a suspended case that is not resumed is closed."""
    p = platform
    case = await open_case(p, 101)
    await request_return(p, case)
    await clear(p, case)
    await ticket(p, case)
    c = case.case_id

    done = await withdraw(
        p, case, "return_assistance_processing", case.mother, reason="safety_concerns"
    )
    assert done["events"] == ["avrr.intake.ConsentWithdrawn", "avrr.intake.ReturnSuspended"]
    doc = await intake_shows(p, case, done["version"])
    assert doc["status"] == "suspended_by_consent"
    await p.until("eligibility", f"/assessments/{c}", status("closed"), CASEWORKER, hop="", since=0)
    await p.until("travel", f"/movements/{c}", status("cancelled"), TRAVEL_OFFICER, hop="", since=0)
    await p.refused("travel", f"/movements/{c}/departure", {}, TRAVEL_OFFICER)
    state = await p.get("intake", f"/cases/{c}/state", CASEWORKER)
    assert state.json()["phase"] == "suspended", state.text

    # Consent again: the same request resumes, where it stood (the booking was voided).
    given = await consent(p, case, case.mother, "return_assistance_processing")
    assert given["events"] == ["avrr.intake.ConsentGiven", "avrr.intake.ReturnResumed"]
    await p.until(
        "eligibility", f"/assessments/{c}", status("cleared"), CASEWORKER, hop="", since=0
    )
    movement = await p.until(
        "travel", f"/movements/{c}", status("preparing"), TRAVEL_OFFICER, hop="", since=0
    )
    assert movement["booking"] is None and movement["cancellation"] is None, movement
    await ticket(p, case)  # documents and fitness were kept: only the ticket again
    doc = await intake_shows(p, case, given["version"])
    assert doc["status"] == "return_requested"

    # After arrival, reintegration agrees no plan while the consent is withdrawn.
    home = await arrived(p, 102)
    plan = {
        "components": [
            {"kind": "social", "activity": "school", "budget": {"amount": "50", "currency": "USD"}}
        ],
        "agreed_at": datetime.now(UTC).isoformat(),
    }
    await withdraw(
        p, home, "return_assistance_processing", home.mother, reason="returned_by_other_means"
    )

    async def plan_refused() -> bool:
        r = await p.clients["reintegration"].post(
            f"/cases/{home.case_id}/plan", json=plan, headers=REINTEGRATION_OFFICER
        )
        assert r.status_code in (409, 422) or r.status_code == 201, r.text
        return r.status_code != 201 and "suspended" in r.json()["detail"]

    await testing.eventually(plan_refused, timeout=p.timeout)
    await consent(p, home, home.mother, "return_assistance_processing")

    async def plan_agreed() -> bool:
        r = await p.clients["reintegration"].post(
            f"/cases/{home.case_id}/plan", json=plan, headers=REINTEGRATION_OFFICER
        )
        return r.status_code == 201

    await testing.eventually(plan_agreed, timeout=p.timeout)

    # Not resumed: closed with a reason, nothing left open anywhere.
    other = await open_case(p, 103)
    await request_return(p, other)
    await withdraw(p, other, "return_assistance_processing", reason="staying_in_host_country")
    await p.case_shows("eligibility", other.case_id, status("closed"), hop="", since=0)
    closed, _t = await p.post(
        "intake",
        f"/cases/{other.case_id}/closure",
        {"reason": "staying_in_host_country"},
        CASEWORKER,
        expect=200,
    )
    doc = await intake_shows(p, other, closed["version"])
    assert doc["status"] == "closed"
    refused = await p.clients["intake"].post(
        f"/cases/{other.case_id}/consents",
        json={
            "person_id": other.mother,
            "purposes": ["return_assistance_processing"],
            "given_on": today(),
            "language": "es",
        },
        headers=CASEWORKER,
    )
    assert refused.status_code == 422, "a closed case is not resumed"


async def test_contact_by_programme_withdrawn_hides_contact_and_marks_do_not_contact(
    platform: Platform,
) -> None:
    """Intake hides the contact details; reintegration's monitoring lists say do not
    contact; consent again lifts both."""
    p = platform
    case = await arrived(p, 104)
    c = case.case_id
    await consent(p, case, case.mother, "contact_by_programme")
    done = await withdraw(p, case, "contact_by_programme", case.mother, reason="safety_concerns")
    assert done["events"] == ["avrr.intake.ConsentWithdrawn"], "the return goes on"
    doc = await intake_shows(p, case, done["version"])
    assert doc["status"] == "return_requested"

    def flagged(wanted: bool) -> Any:
        return lambda doc: all(v["do_not_contact"] is wanted for v in doc["items"])

    # The overdue list is the receiving office's once it confirmed the arrival (hand-over).
    later = (date.today() + timedelta(days=400)).isoformat()
    overdue = f"/monitoring/overdue?office={RECEIVING_OFFICE}&as_of={later}"

    async def case_listed(wanted: bool) -> None:
        async def shown() -> bool:
            visits = await p.get("reintegration", f"/cases/{c}/monitoring", REINTEGRATION_OFFICER)
            mine = [
                i
                for i in (await p.get("reintegration", overdue, RECEIVER)).json()["items"]
                if i["case_id"] == c
            ]
            return (
                bool(visits.json())
                and all(v["do_not_contact"] is wanted for v in visits.json())
                and bool(mine)
                and all(i["do_not_contact"] is wanted for i in mine)
            )

        await testing.eventually(shown, timeout=p.timeout)

    await case_listed(True)
    await consent(p, case, case.mother, "contact_by_programme")
    await case_listed(False)


async def test_share_with_reintegration_partners_withdrawn_stops_referrals_only(
    platform: Platform,
) -> None:
    p = platform
    case = await arrived(p, 105)
    c = case.case_id
    await consent(p, case, case.mother, "share_with_reintegration_partners")
    await withdraw(p, case, "share_with_reintegration_partners", reason="other")
    referral = {
        "organisation_id": "hn-cor-returnee-centre",
        "service": "social",
        "referred_on": today(),
    }

    async def refused() -> bool:
        r = await p.clients["reintegration"].post(
            f"/cases/{c}/referrals", json=referral, headers=REINTEGRATION_OFFICER
        )
        # Accepted only inside the window before reintegration learns of the withdrawal.
        return r.status_code == 422 and "partners" in r.json()["detail"]

    await testing.eventually(refused, timeout=p.timeout)
    # Nothing else stops: the plan is agreed.
    plan = {
        "components": [
            {"kind": "economic", "activity": "shop", "budget": {"amount": "80", "currency": "USD"}}
        ],
        "agreed_at": datetime.now(UTC).isoformat(),
    }
    await p.post("reintegration", f"/cases/{c}/plan", plan, REINTEGRATION_OFFICER, expect=201)


async def test_medical_data_processing_withdrawn_stops_and_hides_health_details(
    platform: Platform,
) -> None:
    p = platform
    case = await open_case(p, 106)
    await request_return(p, case)
    await clear(p, case)
    c = case.case_id
    given = await consent(p, case, case.mother, "medical_data_processing")
    await intake_shows(p, case, given["version"])
    details = {"person_id": case.mother, "outcome": "fit", "health_details": "asthma, inhaler"}

    async def recorded() -> bool:
        r = await p.clients["travel"].post(f"/movements/{c}/fitness", json=details, headers=MEDIC)
        return r.status_code == 200

    await testing.eventually(recorded, timeout=p.timeout)
    await withdraw(p, case, "medical_data_processing", case.mother, reason="other")

    async def hidden() -> bool:
        r = await p.get("travel", f"/movements/{c}/medical", MEDIC)
        shown = [x["health_details"] for x in r.json()["records"] if x["person_id"] == case.mother]
        return bool(shown) and set(shown) <= {"consent_withdrawn", None}

    await testing.eventually(hidden, timeout=p.timeout)
    again = await p.clients["travel"].post(f"/movements/{c}/fitness", json=details, headers=MEDIC)
    assert again.status_code == 422 and "consent" in again.json()["detail"], again.text
    # The movement itself goes on.
    movement = await p.get("travel", f"/movements/{c}", TRAVEL_OFFICER)
    assert movement.json()["status"] == "preparing", movement.text


async def test_share_with_authorities_withdrawn_changes_nothing_but_what_is_shared(
    platform: Platform,
) -> None:
    """Its public-topic effect (no record, disclosure key refused then deleted) is proved in
    tests/test_public_integration.py and services/intake/tests/test_intake_authorities.py;
    here: the return itself goes on in every service."""
    p = platform
    case = await open_case(p, 107)
    await consent(p, case, case.mother, "share_with_authorities")
    await request_return(p, case)
    done = await withdraw(p, case, "share_with_authorities", case.mother, reason="safety_concerns")
    assert done["events"] == ["avrr.intake.ConsentWithdrawn"]
    await clear(p, case)  # eligibility clears, travel opens: nothing stopped
    doc = await intake_shows(p, case, done["version"])
    assert doc["status"] == "return_requested"
