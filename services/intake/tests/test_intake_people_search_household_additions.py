"""People search finds a person who joined the household later (HouseholdMemberAdded) as it
finds the referral's members: by a misspelt name with their birth date, by their document, on
their case only, for the case's offices only; under the new spelling once rectified; no longer
once they left the household (HouseholdMemberRemoved; again once a removal that raced the
departure is undone) or the case was erased (on real
PostgreSQL and Kafka, and on the embedded default)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from intake_fixtures import DPO, Intake, answered, referral
from test_intake_household_addition import add, addition
from test_intake_household_removal import from_travel, removal
from test_intake_people_search import GUATEMALA, HEADQUARTERS, SEARCH, found, indexed, search, user
from test_intake_rectification import rectification
from test_intake_return_amendment import requested

from avrr_events import ProjectionRunner
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.harness import embedded
from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES
from avrr_intake.events import registry
from avrr_intake.main import service
from avrr_intake.search import PeopleIndex

# Joins the default referral's mother and child (GT-GUA): no other test's person is named so.
UNCLE = {
    "given_names": "Wilber Yovani",
    "family_name": "Xicará Batzibal",
    "date_of_birth": "1979-11-23",
    "sex": "male",
    "relationship": "other",
    "document_type": "passport",
    "document_number": "GT-5512 0987",
}
MISSPELT = {"name": "Wilber Llovani Xicara Batsibal", "date_of_birth": "1979-11-23"}
BY_DOCUMENT = {"document_number": "gt55120987"}


async def joined(intake: Intake) -> tuple[str, str]:
    """A case of three: the referral's two and the uncle who joined; (case id, his id), once
    the index has all three."""
    created = await intake.open_case()
    case_id = created["case_id"]
    body = addition(UNCLE, reason="joined_household")
    answer = answered(await add(intake, case_id, body), 201)

    async def three() -> bool:
        return await indexed(intake, case_id) == 3

    await eventually(three, timeout=30)
    return case_id, answer["person_id"]


async def found_people(
    intake: Intake, body: dict[str, Any], headers: dict[str, str]
) -> set[tuple[str, str]]:
    return {(i["case_id"], i["person_id"]) for i in (await search(intake, body, headers))["items"]}


async def test_a_member_who_joined_is_found_on_their_case_by_name_and_document(
    intake: Intake,
) -> None:
    case_id, uncle = await joined(intake)
    for body in (MISSPELT, BY_DOCUMENT, {**MISSPELT, **BY_DOCUMENT}):
        assert await found_people(intake, body, GUATEMALA) == {(case_id, uncle)}, body
        assert await found_people(intake, body, HEADQUARTERS) == {(case_id, uncle)}, body
    [item] = (await search(intake, {**MISSPELT, **BY_DOCUMENT}, GUATEMALA))["items"]
    assert item["relationship"] == "other" and item["family_name"] == "Xicará Batzibal"
    assert item["score"] == 3 + 2 + 3 + 2 + 4 + 8  # two exact words, two sounds (ll/y, z/s)

    # Every role of an unrelated office finds no one (or is refused).
    for role in ROLES:
        for body in (MISSPELT, BY_DOCUMENT):
            response = await intake.http.post(SEARCH, json=body, headers=user("x", role, "MX-TAP"))
            if response.status_code == 200:
                assert response.json()["items"] == [] and response.json()["total"] == 0, role
            else:
                assert response.status_code == 403, role

    # Erased with the case: his rows go with the others', and he is found no more.
    erased = await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO)
    assert erased.status_code == 200, erased.text

    async def gone() -> bool:
        return await indexed(intake, case_id) == 0

    await eventually(gone, timeout=30)
    for body in (MISSPELT, BY_DOCUMENT):
        assert await found(intake, body, GUATEMALA) == set(), body


async def test_a_rectified_member_who_joined_is_found_under_the_new_spelling_only(
    intake: Intake,
) -> None:
    case_id, uncle = await joined(intake)
    body = rectification(uncle, family_name="Sicará Batz", date_of_birth="1979-11-25")
    answered(await intake.http.post(f"/cases/{case_id}/rectifications", json=body), 201)
    corrected = {"name": "Wilber Sicara Batz", "date_of_birth": "1979-11-25"}

    async def corrected_found() -> bool:
        return await found_people(intake, corrected, GUATEMALA) == {(case_id, uncle)}

    await eventually(corrected_found, timeout=30)
    assert await found(intake, MISSPELT, GUATEMALA) == set()
    assert await found_people(intake, BY_DOCUMENT, GUATEMALA) == {(case_id, uncle)}


async def test_a_member_who_left_the_household_is_no_longer_found_under_the_case(
    intake: Intake,
) -> None:
    """Off the household, the case file lists them among its removed members, which a
    search does not show: their rows go (their data is erased with the case's)."""
    case_id, uncle = await joined(intake)
    answered(
        await intake.http.post(f"/cases/{case_id}/household/removals", json=removal(uncle)), 201
    )

    async def two() -> bool:
        return await indexed(intake, case_id) == 2

    await eventually(two, timeout=30)
    for body in (MISSPELT, BY_DOCUMENT):
        answer = await search(intake, body, GUATEMALA)
        assert answer["items"] == [] and answer["total"] == 0, body
    # A rebuild replays the addition and the removal: still the referral's two only.
    [index] = [p for p in intake.runtime.projections if isinstance(p, PeopleIndex)]
    runner = ProjectionRunner(intake.runtime.db, registry, intake.runtime.group)
    await runner.rebuild(index)
    assert await indexed(intake, case_id) == 2
    assert await found(intake, BY_DOCUMENT, GUATEMALA) == set()


async def test_the_embedded_default_finds_a_member_who_joined(tmp_path: Path) -> None:
    """SQLite and the in-process bus: the same handlers, query and scoping."""
    async with embedded(
        service, tmp_path / "intake.db", base_url="http://intake", keys=tmp_path / "keys.db"
    ) as (_, http, _bus):
        created = await http.post("/referrals", json=referral(), headers=GUATEMALA)
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        added = await http.post(
            f"/cases/{case_id}/household/additions",
            json=addition(UNCLE, reason="joined_household"),
            headers=GUATEMALA,
        )
        assert added.status_code == 201, added.text
        uncle = added.json()["person_id"]

        async def found_by(body: dict[str, Any], headers: dict[str, str]) -> list[Any]:
            response = await http.post(SEARCH, json=body, headers=headers)
            assert response.status_code == 200, response.text
            return [(i["case_id"], i["person_id"]) for i in response.json()["items"]]

        async def indexed_too(body: dict[str, Any]) -> bool:
            return await found_by(body, GUATEMALA) == [(case_id, uncle)]

        await eventually(partial(indexed_too, MISSPELT), timeout=10)
        assert await found_by(BY_DOCUMENT, GUATEMALA) == [(case_id, uncle)]
        assert await found_by(MISSPELT, user("cw-mx", "caseworker", "MX-TAP")) == []


async def test_a_removal_refused_after_the_departure_makes_the_member_found_again(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    """Travel took the departure first (TravellerRemovalRefused): the member travelled, is
    restored (HouseholdMemberRestored) and found again from the case file's record."""
    case_id, _ = await requested(intake)
    case = (await intake.case(case_id)).json()
    child = next(p["person_id"] for p in case["household"] if p["relationship"] == "child")
    answered(
        await intake.http.post(f"/cases/{case_id}/household/removals", json=removal(child)), 201
    )
    body = {"name": "Luiz Kispe", "date_of_birth": "2016-09-01"}

    async def count(people: int) -> bool:
        return await indexed(intake, case_id) == people

    await eventually(partial(count, 1), timeout=30)
    assert (case_id, child) not in await found_people(intake, body, GUATEMALA)
    now = datetime.now(UTC).isoformat()
    await from_travel(intake, kafka_settings, "DepartureConfirmed", case_id, {"departed_at": now})
    refusal = {"person_id": child, "departed_at": now, "refused_at": now}
    await from_travel(intake, kafka_settings, "TravellerRemovalRefused", case_id, refusal)

    await eventually(partial(count, 2), timeout=30)
    assert (case_id, child) in await found_people(intake, body, GUATEMALA)
