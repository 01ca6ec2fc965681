"""People search by phone follows the consent to be contacted (confidentiality).

The principal's phone is a search key only while ``contact_by_programme`` is not withdrawn:
the withdrawal takes it out of the index, and a search answered after the withdrawal's 2xx
never finds the person by it, even before the index caught up (a search racing it); given
again, the phone finds them again; a contact corrected meanwhile is not indexed. Their
name keeps finding them (casework needs it whatever was consented besides the return).
Real PostgreSQL and Kafka, and the embedded default.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from intake_fixtures import CASEWORKER, Intake, answered, consent, referral
from sqlalchemy import func, select

from avrr_events import ProjectionRunner
from avrr_events.harness import embedded
from avrr_events.testing import eventually, reads_after_the_answer
from avrr_intake.consent import CONTACT_BY_PROGRAMME
from avrr_intake.events import registry
from avrr_intake.main import service
from avrr_intake.search import PeopleIndex, indexed_people, search_tokens

SEARCH = "/people/search"
PHONE = {"phone": "5555-0199"}  # the referral's contact: +502 5555 0199
NAME = {"name": "Maria Jose Quispe Mamani"}
WITHDRAWAL = f"/cases/{{case_id}}/consents/{CONTACT_BY_PROGRAMME}/withdrawal"


async def found(http: Any, body: dict[str, Any]) -> set[str]:
    response = await http.post(SEARCH, json=body, headers=CASEWORKER)
    answer = answered(response)
    assert answer["total"] == len(answer["items"]), answer
    return {i["case_id"] for i in answer["items"]}


async def phone_rows(intake: Intake, case_id: str) -> int:
    p, t = indexed_people.c, search_tokens.c
    numbers = select(p.number).where(p.case_id == case_id)
    async with intake.runtime.db.autocommit() as conn:
        count = await conn.scalar(
            select(func.count()).where(t.number.in_(numbers), t.kind == "phone")
        )
    return int(count or 0)


async def contact_consented(http: Any) -> tuple[str, str]:
    """A case whose principal consented to be contacted, found by their phone: (case, person)."""
    created = answered(await http.post("/referrals", json=referral(), headers=CASEWORKER), 201)
    case_id, mother = created["case_id"], _principal(created)
    given = await http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "return_assistance_processing", CONTACT_BY_PROGRAMME),
        headers=CASEWORKER,
    )
    answered(given, 201)

    async def by_phone() -> bool:
        return await found(http, PHONE) == {case_id}

    await eventually(by_phone, timeout=30)
    return case_id, mother


def _principal(created: dict[str, Any]) -> str:
    people = created["household"]
    return str(next(p["person_id"] for p in people if p["relationship"] == "principal"))


async def withdraw(http: Any, case_id: str, person_id: str | None) -> None:
    body: dict[str, Any] = {"reason": "safety_concerns"}
    if person_id is not None:
        body["person_id"] = person_id
    response = await http.post(WITHDRAWAL.format(case_id=case_id), json=body, headers=CASEWORKER)
    answered(response)


async def test_a_withdrawn_contact_consent_takes_the_phone_out_of_the_search_at_once(
    intake: Intake,
) -> None:
    case_id, mother = await contact_consented(intake.http)
    await withdraw(intake.http, case_id, mother)
    # Right after the answer, whether or not the index has seen the withdrawal yet.
    assert await found(intake.http, PHONE) == set()
    assert await found(intake.http, NAME | PHONE) == set()
    assert case_id in await found(intake.http, NAME)

    async def no_phone_row() -> bool:
        return await phone_rows(intake, case_id) == 0

    await eventually(no_phone_row, timeout=30)

    # Given again: the phone finds them again, once the index has it back.
    given = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(mother, CONTACT_BY_PROGRAMME)
    )
    answered(given, 201)

    async def by_phone() -> bool:
        return await found(intake.http, PHONE) == {case_id}

    await eventually(by_phone, timeout=30)
    assert await phone_rows(intake, case_id) == 1


async def test_a_withdrawal_for_the_whole_household_and_a_corrected_contact_stay_unfound(
    intake: Intake,
) -> None:
    case_id, mother = await contact_consented(intake.http)
    await withdraw(intake.http, case_id, None)  # for everyone of the case: the principal too
    assert await found(intake.http, PHONE) == set()
    corrected = {"person_id": mother, "contact": {"phone": "+502 7777 1212"}}
    rectified = await intake.http.post(
        f"/cases/{case_id}/rectifications", json=corrected | {"reason": "clerical_error"}
    )
    version = answered(rectified, 201)["version"]
    await intake.wait_for(case_id, version=version)

    async def no_phone_row() -> bool:
        return await phone_rows(intake, case_id) == 0

    await eventually(no_phone_row, timeout=30)
    assert await found(intake.http, {"phone": "7777 1212"}) == set()
    # The contact consent given again brings the corrected phone, not the referral's.
    answered(
        await intake.http.post(
            f"/cases/{case_id}/consents", json=consent(mother, CONTACT_BY_PROGRAMME)
        ),
        201,
    )

    async def by_new_phone() -> bool:
        return await found(intake.http, {"phone": "7777 1212"}) == {case_id}

    await eventually(by_new_phone, timeout=30)
    assert await found(intake.http, PHONE) == set()


async def test_a_rebuild_of_the_index_leaves_a_withdrawn_phone_out(intake: Intake) -> None:
    withdrawn, mother = await contact_consented(intake.http)
    await withdraw(intake.http, withdrawn, mother)
    kept, _ = await contact_consented(intake.http)  # the same phone, still consented to
    [index] = [p for p in intake.runtime.projections if isinstance(p, PeopleIndex)]
    runner = ProjectionRunner(intake.runtime.db, registry, intake.runtime.group)

    async def withdrawal_seen() -> bool:
        return await phone_rows(intake, withdrawn) == 0

    await eventually(withdrawal_seen, timeout=30)
    await runner.rebuild(index)
    assert await phone_rows(intake, withdrawn) == 0
    assert await phone_rows(intake, kept) == 1
    assert await found(intake.http, PHONE) == {kept}
    assert {withdrawn, kept} <= await found(intake.http, NAME)


async def test_a_search_racing_the_withdrawal_never_finds_the_phone_after_its_answer(
    intake: Intake,
) -> None:
    case_id, mother = await contact_consented(intake.http)
    late = await reads_after_the_answer(
        partial(withdraw, intake.http, case_id, mother),
        [partial(found, intake.http, PHONE)] * 2,
        times=40,
    )
    assert all(result == set() for result in late), late


async def test_the_embedded_default_forgets_the_phone_at_the_withdrawal_too(
    tmp_path: Path,
) -> None:
    async with embedded(
        service, tmp_path / "intake.db", base_url="http://intake", keys=tmp_path / "keys.db"
    ) as (_, http, _bus):
        case_id, mother = await contact_consented(http)
        await withdraw(http, case_id, mother)
        assert await found(http, PHONE) == set()
        assert case_id in await found(http, NAME)
        given = await http.post(
            f"/cases/{case_id}/consents",
            json=consent(mother, CONTACT_BY_PROGRAMME),
            headers=CASEWORKER,
        )
        answered(given, 201)

        async def by_phone() -> bool:
            return await found(http, PHONE) == {case_id}

        await eventually(by_phone, timeout=10)


async def test_a_withdrawal_for_the_household_hides_a_principal_who_never_consented_at_once(
    intake: Intake,
) -> None:
    """The index takes the principal's phone out at a withdrawal for the whole household,
    whether or not the principal had given that consent (only another member had): a
    search answered after the withdrawal's 2xx does not find them by it either."""
    created = answered(
        await intake.http.post("/referrals", json=referral(), headers=CASEWORKER), 201
    )
    case_id, mother = created["case_id"], _principal(created)
    child = next(str(p["person_id"]) for p in created["household"] if p["person_id"] != mother)
    as_guardian = {"given_by": "guardian", "representative_person_id": mother}
    for person, purposes, by in ((mother, (), {}), (child, (CONTACT_BY_PROGRAMME,), as_guardian)):
        given = await intake.http.post(
            f"/cases/{case_id}/consents",
            json=consent(person, "return_assistance_processing", *purposes, **by),
            headers=CASEWORKER,
        )
        version = answered(given, 201)["version"]

    async def by_phone() -> bool:
        return await found(intake.http, PHONE) == {case_id}

    await eventually(by_phone, timeout=30)
    await intake.wait_for(case_id, version=version)
    await withdraw(intake.http, case_id, None)
    assert await found(intake.http, PHONE) == set()
    assert case_id in await found(intake.http, NAME)
