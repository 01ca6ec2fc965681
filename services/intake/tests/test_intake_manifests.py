"""Manifests of a group movement and of a day, and a group's consulate list: names and identity
documents for the travel officers of the cases' office only, every rendering audited per case;
the consulate list names only the people whose consent to share with authorities stands.
Intake on PostgreSQL, travel's group and ticket events on real Kafka."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from generated_cases import envelope
from intake_fixtures import DPO, Intake, consent, publish, referral
from intake_tokens import bearer

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.notices.proofs import proof
from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES, Role
from avrr_intake import manifests

GROUP = "convoy-gua-1"
OFFICER = bearer("to-gua", "travel_officer", "GT-GUA")
SHARE = "share_with_authorities"


def household(family: str, number: str) -> list[dict[str, Any]]:
    """A mother with a passport and her son, of family ``family``."""
    return [
        {
            "given_names": "Rosa",
            "family_name": family,
            "date_of_birth": "1988-02-03",
            "sex": "female",
            "relationship": "principal",
            "document_type": "passport",
            "document_number": number,
        },
        {
            "given_names": "Tomás",
            "family_name": family,
            "date_of_birth": "2015-06-07",
            "sex": "male",
            "relationship": "child",
        },
    ]


async def _case(intake: Intake, family: str, number: str, *purposes: str) -> tuple[str, str]:
    created = await intake.open_case(referral(household=household(family, number)))
    case_id, mother = created["case_id"], intake.person(created, "principal")
    given = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "return_assistance_processing", *purposes),
    )
    assert given.status_code == 201, given.text
    await intake.wait_for(case_id, version=given.json()["version"])
    return case_id, mother


def _travel(name: str, case_id: str, when: datetime, **data: Any) -> Any:
    return envelope("travel", name, case_id, when, {"case_id": case_id, **data})


async def _convoy(intake: Intake, kafka: KafkaSettings, day: date) -> dict[str, str]:
    """Four households of Guatemala City: three in the group (one consented to share with
    authorities, one never did, one withdrew it), one that joined and left."""
    shares, share_mother = await _case(intake, "Sharing", "GT1000001", SHARE)
    never, _ = await _case(intake, "Never", "GT1000002")
    withdrew, withdrew_mother = await _case(intake, "Withdrew", "GT1000003", SHARE)
    left, _ = await _case(intake, "Left", "GT1000004", SHARE)
    taken = await intake.http.post(
        f"/cases/{withdrew}/consents/{SHARE}/withdrawal",
        json={"person_id": withdrew_mother, "reason": "other"},
    )
    assert taken.status_code == 200, taken.text
    now = datetime.now(UTC)
    events = []
    for i, case_id in enumerate((shares, never, withdrew, left)):
        at = now + timedelta(seconds=i)
        events.append(
            _travel(
                "TicketIssued",
                case_id,
                at,
                mode="bus",
                carrier="Transportes del Sur",
                booking_reference="ref",
                departure_date=day.isoformat(),
                route=["GT-GUA", "HN-TGU"],
                escorts=[],
                issued_at=at.isoformat(),
            )
        )
        joined = {"group_id": GROUP, "at": at.isoformat()}
        events.append(_travel("MovementJoinedGroup", case_id, at, **joined))
    events.append(
        _travel(
            "TravelDocumentObtained",
            shares,
            now,
            person_id=share_mother,
            document_type="passport",
            obtained_on=day.isoformat(),
        )
    )
    gone = {"group_id": GROUP, "cause": "removed_by_travel_officer"}
    events.append(_travel("MovementLeftGroup", left, now, **gone, at=now.isoformat()))
    await publish(kafka, [e.to_message(intake.runtime.settings.topic("travel")) for e in events])

    async def seated() -> bool:
        got = await intake.http.get(
            f"/groups/{GROUP}/manifest", headers={**OFFICER, "Accept": "text/csv"}
        )
        return got.status_code == 200 and "Left" not in got.text and "Never" in got.text

    await eventually(seated, timeout=60)
    return {"shares": shares, "never": never, "withdrew": withdrew, "left": left}


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_the_travel_officer_reads_names_and_documents_as_csv_and_pdf_audited(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    day = date.today() + timedelta(days=3)
    cases = await _convoy(intake, kafka_settings, day)
    http = intake.http
    rows = _csv(
        await http.get(f"/groups/{GROUP}/manifest", headers={**OFFICER, "Accept": "text/csv"})
    )
    seated = {cases["shares"], cases["never"], cases["withdrew"]}
    assert {r["case_id"] for r in rows} == seated
    assert len(rows) == 6  # three mothers and their sons
    mother = next(
        r for r in rows if r["case_id"] == cases["shares"] and r["relationship"] == "principal"
    )
    assert (mother["given_names"], mother["family_name"]) == ("Rosa", "Sharing")
    assert (mother["document_type"], mother["document_number"]) == ("passport", "GT1000001")
    assert mother["travel_document"] == "passport"
    assert "GT1000004" not in str(rows)  # left the group

    pdf = await http.get(
        f"/groups/{GROUP}/manifest", headers={**OFFICER, "Accept": "application/pdf"}
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"

    # The printed manifest reads whole: every name and number on the page, nothing overprinted.
    async with intake.runtime.db.autocommit() as conn:
        lines = await manifests.travellers(conn, intake.runtime.cipher, sorted(seated))
    notice = manifests.as_notice(f"Manifest of group {GROUP}", lines, "6 traveller(s).")
    rendered = proof(notice, name="group-manifest")
    assert rendered.problems(notice) == []
    assert "GT1000001" in rendered.text and "Sharing" in rendered.text

    # The day's manifest of the office lists the same movements (the one that left the group
    # still departs that day by itself).
    by_day = _csv(
        await http.get(
            "/manifests",
            params={"date": day.isoformat(), "office": "GT-GUA"},
            headers={**OFFICER, "Accept": "text/csv"},
        )
    )
    assert {r["case_id"] for r in by_day} == {*seated, cases["left"]}
    other_day = _csv(
        await http.get(
            "/manifests",
            params={"date": (day + timedelta(days=1)).isoformat(), "office": "GT-GUA"},
            headers={**OFFICER, "Accept": "text/csv"},
        )
    )
    assert other_day == []

    # Each rendering is audited against every case it named.
    entries = await intake.runtime.audit.entries(limit=5000)
    named = [e for e in entries if e.route == "GET /groups/{group_id}/manifest" and e.case_id]
    assert {e.case_id for e in named} == seated
    assert all(e.actor == "to-gua" for e in named)
    assert any(e.route == "GET /manifests" and e.case_id == cases["left"] for e in entries)


async def test_the_consulate_list_names_only_who_consented_to_share_with_authorities(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    cases = await _convoy(intake, kafka_settings, date.today() + timedelta(days=2))
    response = await intake.http.get(
        f"/groups/{GROUP}/consulate-list", headers={**OFFICER, "Accept": "text/csv"}
    )
    rows = _csv(response)
    assert [(r["case_id"], r["family_name"], r["relationship"]) for r in rows] == [
        (cases["shares"], "Sharing", "principal")
    ]
    # Nobody else, not even counted: no other family, number or son in any rendering.
    html = await intake.http.get(f"/groups/{GROUP}/consulate-list", headers=OFFICER)
    for text in (response.text, html.text):
        for word in ("Never", "Withdrew", "Left", "Tomás", "GT1000002", "GT1000003"):
            assert word not in text, word
    assert "1 traveller(s)" in html.text


async def test_no_other_office_and_no_other_role_reads_a_manifest(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    day = date.today() + timedelta(days=4)
    await _convoy(intake, kafka_settings, day)
    http = intake.http
    routes = (f"/groups/{GROUP}/manifest", f"/groups/{GROUP}/consulate-list")
    for role in ROLES:
        for offices in (("MX-TAP",), ("HN-TGU",), ()):
            headers = bearer(f"{role}-x", role, *offices)
            for route in routes:
                got = await http.get(route, headers=headers)
                expected = 404 if Role(role) == Role.TRAVEL_OFFICER else 403
                assert got.status_code == expected, (role, offices, route, got.text)
                assert got.headers["content-type"] == "application/problem+json"
                assert "Sharing" not in got.text
            refused = await http.get(
                "/manifests", params={"date": day.isoformat(), "office": "GT-GUA"}, headers=headers
            )
            assert refused.status_code == 403, (role, offices)
        if Role(role) != Role.TRAVEL_OFFICER:
            # The case's own office, in a role that may not see names and documents: refused.
            own = bearer(f"{role}-gua", role, "GT-GUA")
            for route in routes:
                assert (await http.get(route, headers=own)).status_code == 403, role
    # An unknown group reads as absent, and a bad date names the field.
    assert (await http.get("/groups/nowhere/manifest", headers=OFFICER)).status_code == 404
    bad = await http.get("/manifests", params={"date": "soon", "office": "GT-GUA"}, headers=OFFICER)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["date"]
    everywhere = bearer("hq", "travel_officer", "*")
    assert (await http.get(f"/groups/{GROUP}/manifest", headers=everywhere)).status_code == 200


async def test_an_erased_household_keeps_its_seats_without_names_and_leaves_the_consulate_list(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    cases = await _convoy(intake, kafka_settings, date.today() + timedelta(days=5))
    erased = await intake.http.post(f"/cases/{cases['shares']}/erasure", headers=DPO)
    assert erased.status_code == 200, erased.text
    await intake.wait_for(cases["shares"], version=erased.json()["version"])
    rows = _csv(
        await intake.http.get(
            f"/groups/{GROUP}/manifest", headers={**OFFICER, "Accept": "text/csv"}
        )
    )
    theirs = [r for r in rows if r["case_id"] == cases["shares"]]
    assert len(theirs) == 2  # the seats are still taken: the officer sees two travellers
    assert {(r["given_names"], r["family_name"], r["document_number"]) for r in theirs} == {
        ("", manifests.ERASED_NAME, "")
    }
    assert "Sharing" not in str(rows) and "GT1000001" not in str(rows)
    # The only person who consented is erased: the consulate list names nobody.
    consulate = await intake.http.get(
        f"/groups/{GROUP}/consulate-list", headers={**OFFICER, "Accept": "text/csv"}
    )
    assert _csv(consulate) == []


async def test_a_withdrawal_takes_the_person_off_the_consulate_list_from_its_answer_on(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    """Read at once after the withdrawal's 200, whether or not the read model has seen it."""
    cases = await _convoy(intake, kafka_settings, date.today() + timedelta(days=6))
    path = f"/groups/{GROUP}/consulate-list"
    listed = _csv(await intake.http.get(path, headers={**OFFICER, "Accept": "text/csv"}))
    assert [r["family_name"] for r in listed] == ["Sharing"]
    mother = listed[0]["person_id"]
    taken = await intake.http.post(
        f"/cases/{cases['shares']}/consents/{SHARE}/withdrawal",
        json={"person_id": mother, "reason": "safety_concerns"},
    )
    assert taken.status_code == 200, taken.text
    consulate = await intake.http.get(path, headers={**OFFICER, "Accept": "text/csv"})
    assert _csv(consulate) == []
    assert "Sharing" not in consulate.text and "GT1000001" not in consulate.text
