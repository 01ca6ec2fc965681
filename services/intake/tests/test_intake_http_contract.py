"""REST contract: Idempotency-Key, ETag/If-Match, authentication, published event schemas."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from intake_fixtures import Intake, consent, referral

from avrr_events.settings import ServiceSettings
from avrr_events.web.service import ServiceRuntime
from avrr_intake import authorities, observed
from avrr_intake.case import CASE_EVENTS
from avrr_intake.feedback import FEEDBACK_EVENTS
from avrr_intake.main import service

EVENT_TYPES = {
    f"avrr.intake.{name}"
    for name in (
        "ReferralReceived",
        "PossibleDuplicateFlagged",
        "CounsellingRecorded",
        "ConsentGiven",
        "ConsentWithdrawn",
        "ReturnRequested",
        "CaseWithdrawn",
        "CaseClosed",
        "PersonalDataErased",
        "ReturnSuspended",
        "ReturnResumed",
        "NeedsDeclared",
        "DuplicateReferredElsewhere",
        "CaseReopened",
        "TransferRequested",
        "TransferAccepted",
        "TransferRejected",
        "TransferExpired",
        # Rectification, amendment, notes and attachments, household changes (issue 18).
        "PersonalDataRectified",
        "ReturnRequestAmended",
        "ReturnAmendmentRefused",
        "NoteAdded",
        "AttachmentAdded",
        "HouseholdMemberRemoved",
        "HouseholdMemberRestored",
        "HouseholdMemberAdded",
        "HouseholdAdditionReversed",
        # The household's facts after a rectification, for eligibility and travel.
        "HouseholdFactsCorrected",
    )
}


async def test_a_retried_post_with_the_same_idempotency_key_is_replayed_not_repeated(
    intake: Intake,
) -> None:
    body = referral()
    first = await intake.http.post("/referrals", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    retry = await intake.http.post("/referrals", json=body, headers={"Idempotency-Key": "k-1"})
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotency-replayed"] == "true"
    assert await intake.event_types() == ["avrr.intake.ReferralReceived"]

    other = await intake.http.post(
        "/referrals", json=referral(office="MX-TAP"), headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert "different request body" in other.json()["detail"]
    assert await intake.event_types() == ["avrr.intake.ReferralReceived"]

    another_key = await intake.http.post(
        "/referrals", json=body, headers={"Idempotency-Key": "k-2"}
    )
    assert another_key.status_code == 201
    assert another_key.json()["case_id"] != first.json()["case_id"]


async def test_a_write_with_a_stale_if_match_is_refused_with_a_conflict_problem(
    intake: Intake,
) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    read = await intake.case(case_id)
    assert read.headers["etag"] == '"1"'
    mother = intake.person(created, "principal")
    fresh = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother),
        headers={"If-Match": read.headers["etag"]},
    )
    assert fresh.status_code == 201, fresh.text
    assert fresh.headers["etag"] == '"2"'

    stale = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "contact_by_programme"),
        headers={"If-Match": read.headers["etag"]},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_etag"] == '"2"'
    assert len(await intake.event_types(case_id)) == 2


async def test_every_event_type_intake_emits_has_a_published_json_schema(intake: Intake) -> None:
    assert {e.event_type for e in CASE_EVENTS} == EVENT_TYPES
    published = (await intake.http.get("/events/schemas")).json()
    titles = {schema["title"] for schema in published.values()}
    # What it writes, the others' events it reads for the timeline and the reports,
    # and the records it publishes for the authorities of countries of origin.
    # Feedback items are streams of their own, never a case's.
    feedback = {e.event_type for e in FEEDBACK_EVENTS}
    assert {t for t in titles if t.startswith("avrr.intake.")} == EVENT_TYPES | feedback
    public_types = {e.event_type for e in authorities.PUBLIC.events}
    assert {t for t in titles if t.startswith("avrr.public.")} == public_types
    assert titles - EVENT_TYPES - feedback - public_types == {
        e.event_type for e in observed.OBSERVED
    }
    for schema in published.values():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["properties"] and schema["type"] == "object"
    await intake.open_case()
    for event_type in await intake.event_types():
        assert event_type in titles


async def test_without_dev_authentication_every_request_is_401(sqlite_url: str) -> None:
    settings = ServiceSettings(
        database_url=sqlite_url, dev=True, dev_auth=False, migrate_on_start=True
    )
    runtime = ServiceRuntime(service, settings)
    app = runtime.app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as http,
    ):
        response = await http.get("/cases", headers={"X-AVRR-User": "someone"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


def test_outside_development_a_master_key_is_required() -> None:
    settings = ServiceSettings(database_url="sqlite+aiosqlite:///:memory:", dev=False)
    try:
        ServiceRuntime(service, settings)
    except RuntimeError as exc:
        assert "AVRR_MASTER_KEY" in str(exc)
    else:
        raise AssertionError("no development key outside AVRR_DEV=1")


def test_outside_development_the_duplicate_check_needs_its_own_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AVRR_INTAKE_DUPLICATE_SECRET", raising=False)
    master = base64.b64encode(b"k" * 32).decode()
    settings = ServiceSettings(database_url="sqlite+aiosqlite:///:memory:", master_key=master)
    with pytest.raises(RuntimeError, match="AVRR_INTAKE_DUPLICATE_SECRET"):
        ServiceRuntime(service, settings)
    monkeypatch.setenv("AVRR_INTAKE_DUPLICATE_SECRET", "s" * 32)
    assert ServiceRuntime(service, settings).projections


async def test_concurrent_commands_on_one_case_never_overwrite_each_other(intake: Intake) -> None:
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    purposes = ["contact_by_programme", "share_with_authorities", "medical_data_processing"]
    responses = await asyncio.gather(
        *(
            intake.http.post(f"/cases/{case_id}/consents", json=consent(mother, purpose))
            for purpose in purposes
        )
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    for lost in (r for r in responses if r.status_code == 409):
        assert lost.headers["content-type"] == "application/problem+json"
    # Every accepted command is in the stream, every refused one is not.
    assert len(await intake.event_types(case_id)) == 1 + statuses.count(201)
