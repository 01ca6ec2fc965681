"""Transferring a case between offices: asked by the office holding it, accepted or rejected
by the receiving office with its reason, lapsed after 7 days without an answer; every step
an event of the case's one stream, and each race (accept against reject, against another
accept, against the expiry) decided by the stream: one wins, the other gets 409. On real
PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from intake_fixtures import Intake, answered, referral
from sqlalchemy import select

from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES
from avrr_intake.case import Case
from avrr_intake.transfer import (
    ANSWER_DAYS,
    TransferAccepted,
    TransferExpiry,
    TransferRequested,
    transfers,
)


def user(name: str, role: str, offices: str) -> dict[str, str]:
    # Every header set: the harness client's default caller must not leak into these.
    return {"X-AVRR-User": name, "X-AVRR-Roles": role, "X-AVRR-Offices": offices}


GUATEMALA = user("cw-gt", "caseworker", "GT-GUA")
TAPACHULA = user("cw-mx", "caseworker", "MX-TAP")
TAPACHULA_SUPERVISOR = user("sup-mx", "supervisor", "MX-TAP")
NOTE = "La señora se mudó a Tapachula con su hermana Rosa Quispe."


async def _case(intake: Intake) -> str:
    created = await intake.open_case(referral(office="GT-GUA"))
    return str(created["case_id"])


async def _request(
    intake: Intake, case_id: str, to_office: str = "MX-TAP", **body: Any
) -> dict[str, Any]:
    response = await intake.http.post(
        f"/cases/{case_id}/transfers",
        json={"to_office": to_office, "reason": "person_moved", **body},
        headers=GUATEMALA,
    )
    return answered(response, 201)


def _answer(
    http: httpx.AsyncClient,
    case_id: str,
    transfer_id: str,
    kind: str = "acceptance",
    headers: dict[str, str] = TAPACHULA_SUPERVISOR,
    **body: Any,
) -> Any:
    path = f"/cases/{case_id}/transfers/{transfer_id}/{kind}"
    return http.post(path, json=body, headers=headers)


async def _status(intake: Intake, transfer_id: str) -> str | None:
    """The transfer's status in the read model (None before it got there)."""
    async with intake.runtime.db.autocommit() as conn:
        status: str | None = await conn.scalar(
            select(transfers.c.status).where(transfers.c.transfer_id == transfer_id)
        )
    return status


async def _expiry_after_the_deadline(intake: Intake, transfer_id: str) -> TransferExpiry:
    """The expiry job as it runs 7 days and a minute from now, once the request is in the
    read model it reads due requests from."""

    async def recorded() -> bool:
        return await _status(intake, transfer_id) is not None

    await eventually(recorded, timeout=30)
    later = datetime.now(UTC) + timedelta(days=ANSWER_DAYS, minutes=1)
    commands = intake.runtime.commands
    return TransferExpiry(commands.expire_transfer, intake.runtime, clock=lambda: later)


async def _listed(intake: Intake, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = answered(
        await intake.http.get("/transfers", headers=headers, params=params)
    )["items"]
    return items


async def test_an_accepted_transfer_makes_the_case_the_receiving_offices(intake: Intake) -> None:
    case_id = await _case(intake)
    http = intake.http
    # Before: Tapachula neither reads nor transfers Guatemala's case.
    assert (await http.get(f"/cases/{case_id}", headers=TAPACHULA)).status_code == 403
    refused = await http.post(
        f"/cases/{case_id}/transfers",
        json={"to_office": "MX-TAP", "reason": "person_moved"},
        headers=TAPACHULA,
    )
    assert refused.status_code == 403, refused.text

    requested = await _request(intake, case_id, note=NOTE)
    transfer_id = requested["transfer_id"]
    assert requested["events"] == ["avrr.intake.TransferRequested"]
    [stored] = [
        r.envelope
        for r in await intake.runtime.store.load(f"case-{case_id}")
        if r.envelope.type == "avrr.intake.TransferRequested"
    ]
    assert "Rosa" not in json.dumps(stored.data), "the note travels encrypted"
    assert (stored.data["from_office"], stored.data["to_office"]) == ("GT-GUA", "MX-TAP")
    deadline = datetime.fromisoformat(stored.data["expires_at"])
    requested_at = datetime.fromisoformat(stored.data["requested_at"])
    assert deadline - requested_at == timedelta(days=ANSWER_DAYS)

    # The receiving office finds it on its incoming list (ids, offices, reason; no names).
    incoming: list[dict[str, Any]] = []

    async def listed() -> bool:
        incoming[:] = await _listed(intake, TAPACHULA, status="requested")
        return bool(incoming)

    await eventually(listed, timeout=30)
    [item] = incoming
    assert (item["case_id"], item["transfer_id"], item["reason"]) == (
        case_id,
        transfer_id,
        "person_moved",
    )
    assert "María" not in json.dumps(incoming)
    assert [i["case_id"] for i in await _listed(intake, GUATEMALA, direction="outgoing")] == [
        case_id
    ]
    assert await _listed(intake, GUATEMALA) == []  # nothing incoming for Guatemala
    assert (
        await http.get("/transfers", headers=GUATEMALA, params={"office": "MX-TAP"})
    ).status_code == 403

    # The office that asked cannot answer its own request; the receiving office accepts.
    own = await _answer(http, case_id, transfer_id, headers=GUATEMALA)
    assert own.status_code == 403, own.text
    accepted = answered(await _answer(http, case_id, transfer_id, note="Recibido."))
    assert accepted["events"] == ["avrr.intake.TransferAccepted"]
    case = await intake.wait_for(case_id, version=accepted["version"])
    assert case["office"] == "MX-TAP"

    # From now on the case is Tapachula's, and Guatemala's no longer.
    assert (await http.get(f"/cases/{case_id}", headers=TAPACHULA_SUPERVISOR)).status_code == 200
    file = answered(await http.get(f"/cases/{case_id}", headers=TAPACHULA))
    assert [t["type"] for t in file["transfers"]] == [
        "avrr.intake.TransferRequested",
        "avrr.intake.TransferAccepted",
    ]
    assert file["transfers"][0]["note"] == NOTE
    for path in ("", "/timeline", "/consents"):
        assert (await http.get(f"/cases/{case_id}{path}", headers=GUATEMALA)).status_code == 403
    listed_mx = answered(await http.get("/cases", headers=TAPACHULA))["items"]
    assert case_id in [c["case_id"] for c in listed_mx]
    listed_gt = answered(await http.get("/cases", headers=GUATEMALA))["items"]
    assert case_id not in [c["case_id"] for c in listed_gt]
    again = await _answer(http, case_id, transfer_id)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"

    timeline = answered(await http.get(f"/cases/{case_id}/timeline", headers=TAPACHULA))["items"]
    entries = {i["type"]: i for i in timeline}
    assert entries["avrr.intake.TransferRequested"]["actor"] == "cw-gt"
    assert entries["avrr.intake.TransferAccepted"]["actor"] == "sup-mx"
    assert "Rosa" not in json.dumps(timeline) and "Recibido" not in json.dumps(timeline)
    state = answered(await http.get(f"/cases/{case_id}/state", headers=TAPACHULA))
    assert state["office"] == "MX-TAP"
    assert [t["status"] for t in await _listed(intake, TAPACHULA)] == ["accepted"]


async def test_an_office_that_is_neither_party_can_do_nothing_whatever_its_role(
    intake: Intake,
) -> None:
    case_id = await _case(intake)
    transfer_id = (await _request(intake, case_id))["transfer_id"]
    version = len(await intake.event_types(case_id))
    for role in ROLES:
        lisbon = user(f"{role}-pt", role, "PT-LIS")
        for kind, body in (("acceptance", {}), ("rejection", {"reason": "other"})):
            refused = await _answer(intake.http, case_id, transfer_id, kind, lisbon, **body)
            assert refused.status_code == 403, (role, kind, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        asked = await intake.http.post(
            f"/cases/{case_id}/transfers",
            json={"to_office": "PT-LIS", "reason": "other"},
            headers=lisbon,
        )
        assert asked.status_code == 403, (role, asked.text)
        listed = await intake.http.get("/transfers", headers=lisbon, params={"direction": "both"})
        assert listed.status_code in (200, 403), role
        if listed.status_code == 200:
            assert listed.json()["items"] == []
    assert len(await intake.event_types(case_id)) == version, "nothing was recorded"


async def test_a_rejection_keeps_the_case_and_bad_requests_name_their_field(
    intake: Intake,
) -> None:
    case_id = await _case(intake)
    http = intake.http
    path = f"/cases/{case_id}/transfers"
    for body, field in (
        ({"to_office": "XX-NOWHERE", "reason": "person_moved"}, "to_office"),
        ({"to_office": "GT-GUA", "reason": "person_moved"}, "to_office"),
        ({"to_office": "MX-TAP", "reason": "bored"}, "reason"),
        ({"to_office": "MX-TAP"}, "reason"),
        ({"to_office": "MX-TAP", "reason": "other", "note": "x" * 2001}, "note"),
    ):
        refused = await http.post(path, json=body, headers=GUATEMALA)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        named = [e["field"] for e in problem.get("errors", [])] or [problem.get("field")]
        assert named == [field], (body, problem)

    transfer_id = (await _request(intake, case_id))["transfer_id"]
    second = await http.post(
        path, json={"to_office": "HN-TGU", "reason": "other"}, headers=GUATEMALA
    )
    assert second.status_code == 409, second.text  # one request awaits its answer at a time

    no_reason = await _answer(http, case_id, transfer_id, "rejection")
    assert no_reason.status_code == 422
    assert [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    rejected = answered(
        await _answer(http, case_id, transfer_id, "rejection", reason="no_capacity")
    )
    assert rejected["events"] == ["avrr.intake.TransferRejected"]
    case = await intake.wait_for(case_id, version=rejected["version"])
    assert case["office"] == "GT-GUA"
    assert (await http.get(f"/cases/{case_id}", headers=TAPACHULA)).status_code == 403
    late = await _answer(http, case_id, transfer_id)
    assert late.status_code == 409, late.text
    # Answered: Guatemala may ask again (another office, or the same one later).
    await _request(intake, case_id, to_office="HN-TGU", reason="closer_to_services")


async def test_an_unanswered_request_expires_after_seven_days(intake: Intake) -> None:
    case_id = await _case(intake)
    transfer_id = (await _request(intake, case_id))["transfer_id"]
    sweep = await _expiry_after_the_deadline(intake, transfer_id)
    early = TransferExpiry(intake.runtime.commands.expire_transfer, intake.runtime)
    assert await early() == 0, "not due yet"
    assert await sweep() == 1
    types = await intake.event_types(case_id)
    assert types[-1] == "avrr.intake.TransferExpired"
    [expired] = [
        r.envelope
        for r in await intake.runtime.store.load(f"case-{case_id}")
        if r.envelope.type == "avrr.intake.TransferExpired"
    ]
    assert expired.data["recorded_by"] == "system:transfer-expiry"

    async def marked() -> bool:
        return [t["status"] for t in await _listed(intake, TAPACHULA)] == ["expired"]

    await eventually(marked, timeout=30)
    assert await sweep() == 0, "idempotent: nothing left to expire"
    late = await _answer(intake.http, case_id, transfer_id)
    assert late.status_code == 409, late.text
    assert (await intake.case(case_id)).json()["office"] == "GT-GUA"


def test_an_answer_after_the_deadline_is_refused_before_the_job_records_the_expiry() -> None:
    case = Case("c-1")
    now = datetime.now(UTC)
    case.office, case.status = "GT-GUA", "open"
    case.version = 1
    sides = {"case_id": "c-1", "transfer_id": "t-1", "from_office": "GT-GUA", "to_office": "MX-TAP"}
    requested = TransferRequested(
        **sides,
        reason="other",
        recorded_by="cw-gt",
        requested_at=now - timedelta(days=8),
        expires_at=now - timedelta(days=1),
    )
    case.record(requested)
    accept = TransferAccepted(**sides, recorded_by="cw-mx", accepted_at=now)
    try:
        case.answer_transfer(accept, now)
    except Exception as refused:
        assert getattr(refused, "status", None) == 409
        assert "expired" in str(refused)
    else:
        raise AssertionError("an answer after the deadline was accepted")
    # A new request after the deadline records the lapse first: one history.
    again = requested.model_copy(
        update={
            "transfer_id": "t-2",
            "to_office": "HN-TGU",
            "requested_at": now,
            "expires_at": now + timedelta(days=ANSWER_DAYS),
        }
    )
    case.request_transfer(again)
    assert [type(e).__name__ for e in case.pending] == [
        "TransferRequested",
        "TransferExpired",
        "TransferRequested",
    ]


async def test_races_on_one_request_have_exactly_one_winner(intake: Intake) -> None:
    http = intake.http
    # Accept against reject, and accept against accept: one answer, the other 409.
    for kinds in (("acceptance", "rejection"), ("acceptance", "acceptance")):
        case_id = await _case(intake)
        transfer_id = (await _request(intake, case_id))["transfer_id"]
        answers = await asyncio.gather(
            *(
                _answer(http, case_id, transfer_id, kind, reason="other")
                if kind == "rejection"
                else _answer(http, case_id, transfer_id, kind)
                for kind in kinds
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        for a in answers:
            if a.status_code == 409:
                assert a.headers["content-type"] == "application/problem+json"
        types = await intake.event_types(case_id)
        answered_types = [t for t in types if t.endswith(("Accepted", "Rejected", "Expired"))]
        assert len(answered_types) == 1, types

    # Accept against the expiry job: the request is answered once, by either.
    case_id = await _case(intake)
    transfer_id = (await _request(intake, case_id))["transfer_id"]
    sweep = await _expiry_after_the_deadline(intake, transfer_id)  # then both at once
    accepted, expired = await asyncio.gather(_answer(http, case_id, transfer_id), sweep())
    types = await intake.event_types(case_id)
    answered_types = [t for t in types if t.endswith(("Accepted", "Rejected", "Expired"))]
    assert len(answered_types) == 1, types
    if answered_types == ["avrr.intake.TransferAccepted"]:
        assert accepted.status_code == 200 and expired == 0
    else:
        assert accepted.status_code == 409 and expired == 1, accepted.text


async def test_only_a_supervisor_of_the_receiving_office_answers(intake: Intake) -> None:
    """Not its caseworker, nor headquarters (offices "*", which reads every office: the
    answer is the receiving office's own), nor, once it accepted, the office that handed
    the case over, which learns nothing more of the case's transfers."""
    case_id = await _case(intake)
    transfer_id = (await _request(intake, case_id))["transfer_id"]
    refused = {
        "Tapachula's caseworker": TAPACHULA,
        "headquarters' supervisor": user("sup-hq", "supervisor", "*"),
        "Geneva's supervisor": user("sup-gva", "supervisor", "CH-GVA"),
        "Guatemala City's supervisor": user("sup-gt", "supervisor", "GT-GUA"),
    }
    for who, headers in refused.items():
        for kind, body in (("acceptance", {}), ("rejection", {"reason": "other"})):
            answer = await _answer(intake.http, case_id, transfer_id, kind, headers, **body)
            assert answer.status_code == 403, (who, kind, answer.text)
    answered(await _answer(intake.http, case_id, transfer_id))
    # Accepted: Guatemala City is no party any more, whatever transfer it names.
    for named in (transfer_id, "another-transfer"):
        for kind, body in (("acceptance", {}), ("rejection", {"reason": "other"})):
            headers = refused["Guatemala City's supervisor"]
            answer = await _answer(intake.http, case_id, named, kind, headers, **body)
            assert answer.status_code == 403, (named, kind, answer.text)


async def test_accept_reject_and_expiry_at_one_moment_record_one_answer(intake: Intake) -> None:
    case_id = await _case(intake)
    transfer_id = (await _request(intake, case_id))["transfer_id"]
    sweep = await _expiry_after_the_deadline(intake, transfer_id)
    http = intake.http
    accepted, rejected, expired = await asyncio.gather(
        _answer(http, case_id, transfer_id),
        _answer(http, case_id, transfer_id, "rejection", reason="no_capacity"),
        sweep(),
    )
    types = await intake.event_types(case_id)
    answers = [t for t in types if t.endswith(("Accepted", "Rejected", "Expired"))]
    assert len(answers) == 1, types
    winners = [accepted.status_code == 200, rejected.status_code == 200, expired == 1]
    assert winners.count(True) == 1, (accepted.text, rejected.text, expired)
    for loser in (accepted, rejected):
        assert loser.status_code in (200, 409), loser.text


async def test_a_withdrawal_at_the_moment_of_the_acceptance_is_never_lost(
    intake: Intake,
) -> None:
    """Guatemala City records the person's withdrawal as Tapachula accepts: one of the two
    appends first, the other gets 409 (403 for a withdrawal after the acceptance). A
    withdrawal that lost is recorded by the office that holds the case now (Guatemala
    City's retry is refused: 403); an acceptance that lost is answered again (a withdrawn
    case's pending request may still be answered: see avrr_intake.case). Either way the
    case ends withdrawn, once, and transferred, once."""
    case_id = await _case(intake)
    transfer_id = (await _request(intake, case_id))["transfer_id"]
    path = f"/cases/{case_id}/withdrawal"
    body = {"reason": "changed_mind"}
    withdrawn, accepted = await asyncio.gather(
        intake.http.post(path, json=body, headers=GUATEMALA),
        _answer(intake.http, case_id, transfer_id),
    )
    if accepted.status_code == 200 and withdrawn.status_code != 200:
        # Accepted first (the withdrawal: 409 at the same moment, 403 after it): the
        # withdrawal is Tapachula's to record now, and Guatemala City's retry is refused,
        # even before the case list shows the case moved.
        assert withdrawn.status_code in (403, 409), withdrawn.text
        retried = await intake.http.post(path, json=body, headers=GUATEMALA)
        assert retried.status_code == 403, retried.text
        await intake.wait_for(case_id, version=accepted.json()["version"])
        answered(await intake.http.post(path, json=body, headers=TAPACHULA))
    elif accepted.status_code != 200:
        # Withdrawn first: the pending request is still answered (the record moves on).
        assert withdrawn.status_code == 200 and accepted.status_code == 409, accepted.text
        answered(await _answer(intake.http, case_id, transfer_id))
    types = await intake.event_types(case_id)
    assert types.count("avrr.intake.CaseWithdrawn") == 1, types
    assert types.count("avrr.intake.TransferAccepted") == 1, types
