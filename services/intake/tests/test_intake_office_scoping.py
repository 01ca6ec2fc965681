"""Office scoping in intake: a user sees the cases of their offices only, and the receiving
office in the country of origin sees a case once the case was handed over to it (its
arrival confirmed by that office), on real PostgreSQL and Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from generated_cases import envelope
from intake_fixtures import Intake, publish, referral

from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually


def user(name: str, role: str, offices: str) -> dict[str, str]:
    # Every header set: the harness client's default caller must not leak into these.
    return {"X-AVRR-User": name, "X-AVRR-Roles": role, "X-AVRR-Offices": offices}


GUATEMALA = user("cw-gt", "caseworker", "GT-GUA")
TAPACHULA = user("cw-mx", "caseworker", "MX-TAP")
TEGUCIGALPA = user("cw-hn", "caseworker", "HN-TGU")  # a receiving office in Honduras
SUPERVISOR_WITHOUT_OFFICES = user("sup-1", "supervisor", "")
HEADQUARTERS = user("hq-1", "supervisor", "*")


async def arrival(
    intake: Intake, kafka_settings: KafkaSettings, case_id: str, by: str, confirmer: str
) -> None:
    """Travel's ArrivalConfirmed for the case, as travel publishes it."""
    at = datetime.now(UTC)
    event = envelope(
        "travel",
        "ArrivalConfirmed",
        case_id,
        at,
        {
            "case_id": case_id,
            "programme_id": "mesoamerica-avr",
            "office": "GT-GUA",
            "destination_country": "HN",
            "arrived_at": at.isoformat(),
            "confirmed_by": by,
            "confirmer_id": confirmer,
        },
    )
    await publish(kafka_settings, [event.to_message(intake.runtime.settings.topic("travel"))])


async def case_ids(http: httpx.AsyncClient, headers: dict[str, str], **params: str) -> set[str]:
    response = await http.get("/cases", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {item["case_id"] for item in response.json()["items"]}


async def test_a_user_sees_and_works_only_the_cases_of_their_offices(intake: Intake) -> None:
    gt = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    mx = (await intake.open_case(referral(office="MX-TAP")))["case_id"]
    http = intake.http

    assert await case_ids(http, GUATEMALA) == {gt}
    assert await case_ids(http, TAPACHULA) == {mx}
    assert await case_ids(http, HEADQUARTERS) == {gt, mx}
    assert await case_ids(http, SUPERVISOR_WITHOUT_OFFICES) == set()  # no office, no case
    other = await http.get("/cases", headers=TAPACHULA, params={"office": "GT-GUA"})
    assert other.status_code == 403

    for path in ("", "/consents", "/timeline", "/state"):
        assert (await http.get(f"/cases/{gt}{path}", headers=GUATEMALA)).status_code == 200
        refused = await http.get(f"/cases/{gt}{path}", headers=TAPACHULA)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert "office" in refused.json()["detail"]
    withdraw = await http.post(
        f"/cases/{gt}/withdrawal", json={"reason": "changed_mind"}, headers=TAPACHULA
    )
    assert withdraw.status_code == 403
    assert await intake.event_types(gt) == ["avrr.intake.ReferralReceived"]
    # Nor may anyone open a case in an office that is not theirs.
    elsewhere = await http.post("/referrals", json=referral(office="GT-GUA"), headers=TAPACHULA)
    assert elsewhere.status_code == 403
    assert (await http.get(f"/cases/{gt}", headers=HEADQUARTERS)).status_code == 200


async def test_the_receiving_office_sees_the_case_once_it_confirmed_the_arrival(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    handed = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    by_partner = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    http = intake.http
    assert (await http.get(f"/cases/{handed}", headers=TEGUCIGALPA)).status_code == 403
    assert await case_ids(http, TEGUCIGALPA) == set()

    await arrival(intake, kafka_settings, handed, "receiving_office", "HN-TGU")
    # A partner's confirmation names an organisation, not an office: no handover.
    await arrival(intake, kafka_settings, by_partner, "partner", "casa-del-migrante")

    async def handed_over() -> bool:
        response = await http.get(f"/cases/{handed}", headers=TEGUCIGALPA)
        return response.status_code == 200

    await eventually(handed_over, timeout=30)
    assert await case_ids(http, TEGUCIGALPA) == {handed}
    timeline = (await http.get(f"/cases/{handed}/timeline", headers=TEGUCIGALPA)).json()
    assert timeline["items"][-1]["type"] == "avrr.travel.ArrivalConfirmed"

    async def partner_arrival_seen() -> bool:
        response = await http.get(f"/cases/{by_partner}/timeline", headers=GUATEMALA)
        types = [item["type"] for item in response.json()["items"]]
        return "avrr.travel.ArrivalConfirmed" in types

    await eventually(partner_arrival_seen, timeout=30)
    assert (await http.get(f"/cases/{by_partner}", headers=TEGUCIGALPA)).status_code == 403
    # The referring office keeps the case; a third office still sees nothing.
    assert await case_ids(http, GUATEMALA) == {handed, by_partner}
    assert (await http.get(f"/cases/{handed}", headers=TAPACHULA)).status_code == 403


async def test_an_arrival_confirmed_by_an_office_outside_the_destination_hands_over_nothing(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    """Defence in depth: travel refuses such arrivals, and intake does not trust that it did
    (a forged record, an older travel). Tapachula is an office, but in Mexico, not Honduras."""
    forged = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    unknown = (await intake.open_case(referral(office="GT-GUA")))["case_id"]
    http = intake.http
    await arrival(intake, kafka_settings, forged, "receiving_office", "MX-TAP")
    await arrival(intake, kafka_settings, unknown, "receiving_office", "HN-NOWHERE")

    async def arrivals_taken_in() -> bool:
        for case_id in (forged, unknown):
            response = await http.get(f"/cases/{case_id}/timeline", headers=GUATEMALA)
            types = [item["type"] for item in response.json()["items"]]
            if "avrr.travel.ArrivalConfirmed" not in types:
                return False
        return True

    await eventually(arrivals_taken_in, timeout=30)
    for path in ("", "/consents", "/timeline", "/state"):
        refused = await http.get(f"/cases/{forged}{path}", headers=TAPACHULA)
        assert refused.status_code == 403, path
    assert await case_ids(http, TAPACHULA) == set()
    assert await case_ids(http, GUATEMALA) == {forged, unknown}
