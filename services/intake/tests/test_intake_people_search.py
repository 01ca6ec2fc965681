"""People search (POST /people/search) on real PostgreSQL and Kafka: spellings, office scoping,
erasure (and a search racing it), the audit entries, and no term in any log or table."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from generated_cases import envelope
from intake_fixtures import DPO, Intake, answered, referral
from sqlalchemy import select, text

from avrr_events import ProjectionRunner
from avrr_events.harness import embedded
from avrr_events.testing import eventually
from avrr_events.web.authorization import ROLES
from avrr_intake.events import registry
from avrr_intake.main import service
from avrr_intake.rectification import PersonalDataRectified
from avrr_intake.search import PeopleIndex, indexed_people, search_tokens

SEARCH = "/people/search"


def user(name: str, role: str, offices: str) -> dict[str, str]:
    return {"X-AVRR-User": name, "X-AVRR-Roles": role, "X-AVRR-Offices": offices}


GUATEMALA = user("cw-gt", "caseworker", "GT-GUA")
TAPACHULA = user("cw-mx", "caseworker", "MX-TAP")
HEADQUARTERS = user("hq-1", "supervisor", "*")


def household(given: str, family: str, born: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "given_names": given,
            "family_name": family,
            "date_of_birth": born,
            "sex": "female",
            "relationship": "principal",
            **extra,
        }
    ]


async def search(
    intake: Intake, body: dict[str, Any], headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await intake.http.post(SEARCH, json=body, headers=headers or {}, params=params)
    return answered(response)


async def found(
    intake: Intake, body: dict[str, Any], headers: dict[str, str] | None = None
) -> set[str]:
    return {i["case_id"] for i in (await search(intake, body, headers))["items"]}


async def indexed(intake: Intake, case_id: str) -> int:
    """The people of ``case_id`` the search index has (once the projection caught up)."""
    p, t = indexed_people.c, search_tokens.c
    async with intake.runtime.db.autocommit() as conn:
        numbers = select(p.number).where(p.case_id == case_id)
        people = await conn.execute(select(t.number).where(t.number.in_(numbers)).distinct())
        return len(people.all())


async def test_people_are_found_under_every_spelling_and_ranked(intake: Intake) -> None:
    gl = await intake.open_case(
        referral(
            household=household(
                "José María",
                "García-López de la Cruz",
                "1984-02-29",
                document_type="passport",
                document_number="GT-998 877",
            ),
            contact_sharing_consented=True,
            contact={"phone": "+502 4123 4567"},
        )
    )
    other = await intake.open_case(
        referral(household=household("Josefa", "García Pérez", "1990-01-01"))
    )
    await eventually(lambda: _has_rows(intake, gl["case_id"]), timeout=30)
    await eventually(lambda: _has_rows(intake, other["case_id"]), timeout=30)

    for spelt in (
        "JOSE MARIA GARCIA LOPEZ",
        "josé maría garcía lópez de la cruz",
        "Garsía Lópes",  # z/s/c
        "Jose Maria Garcia-Lopez",
        "José Garcia Lopez Cruz",
        "Josse Marya Garcia Lopes",  # doubled letters, y/i
    ):
        assert await found(intake, {"name": spelt}, GUATEMALA) == {gl["case_id"]}, spelt
    # Every field must match: the right name with another birth date finds no one.
    assert (
        await found(intake, {"name": "Garcia", "date_of_birth": "1984-02-28"}, GUATEMALA) == set()
    )
    by_all = await search(
        intake,
        {
            "name": "garcia lopez",
            "date_of_birth": "1984-02-29",
            "document_number": "gt998877",
            "phone": "4123-4567",
        },
        GUATEMALA,
    )
    [item] = by_all["items"]
    assert item["case_id"] == gl["case_id"] and item["family_name"] == "García-López de la Cruz"
    assert item["score"] == 3 + 3 + 4 + 8 + 6
    assert await found(intake, {"document_number": "GT 998877"}, GUATEMALA) == {gl["case_id"]}
    assert await found(intake, {"phone": "+50241234567"}, GUATEMALA) == {gl["case_id"]}

    # Ranked: the exact words first, then who matches by sound only.
    ranked = await search(intake, {"name": "Garcia"}, GUATEMALA)
    assert {i["case_id"] for i in ranked["items"]} == {gl["case_id"], other["case_id"]}
    assert ranked["total"] == 2
    page = await search(intake, {"name": "Garcia"}, GUATEMALA, limit=1, offset=1)
    assert len(page["items"]) == 1 and page["total"] == 2
    exact = await search(intake, {"name": "José Garcia"}, GUATEMALA)
    assert [i["case_id"] for i in exact["items"]] == [gl["case_id"]]


async def _has_rows(intake: Intake, case_id: str) -> bool:
    return await indexed(intake, case_id) > 0


async def test_nobody_of_an_unrelated_office_finds_anyone(intake: Intake) -> None:
    gt = await intake.open_case(
        referral(household=household("Yolanda", "Villalobos", "1979-05-05"))
    )
    await eventually(lambda: _has_rows(intake, gt["case_id"]), timeout=30)
    body = {"name": "Iolanda Billalobos"}
    assert await found(intake, body, GUATEMALA) == {gt["case_id"]}
    assert await found(intake, body, HEADQUARTERS) == {gt["case_id"]}
    for role in ROLES:
        response = await intake.http.post(SEARCH, json=body, headers=user("x", role, "MX-TAP"))
        if response.status_code == 200:
            assert response.json()["items"] == [] and response.json()["total"] == 0, role
        else:
            assert response.status_code == 403, role
    # Asking for another office's cases by name is refused, as a list of them is.
    refused = await intake.http.post(
        SEARCH, json=body, headers=TAPACHULA, params={"office": "GT-GUA"}
    )
    assert refused.status_code == 403


async def test_erasure_removes_the_rows_and_a_search_racing_it_never_returns_the_person(
    intake: Intake,
) -> None:
    case = await intake.open_case(
        referral(household=household("Rosário", "Gonçalves", "1970-07-07"))
    )
    case_id = case["case_id"]
    await eventually(lambda: _has_rows(intake, case_id), timeout=30)
    body = {"name": "Rosario Goncalves"}
    assert await found(intake, body, GUATEMALA) == {case_id}

    # The erasure deletes the keys first, then appends PersonalDataErased: between the two
    # (and until the index catches up) the rows are there, yet the person is not returned.
    person_id = intake.person(case, "principal")
    await intake.runtime.cipher.erase(person_id)
    assert await indexed(intake, case_id) == 1
    answer = await search(intake, body, GUATEMALA)
    assert answer["items"] == [] and answer["total"] == 0

    erased = await intake.http.post(f"/cases/{case_id}/erasure", headers=DPO)
    assert erased.status_code == 200, erased.text

    async def gone() -> bool:
        return await indexed(intake, case_id) == 0

    await eventually(gone, timeout=30)
    assert await found(intake, body, GUATEMALA) == set()


async def test_every_search_is_audited_with_its_fields_and_its_cases_never_its_terms(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    case = await intake.open_case(
        referral(household=household("Xiomara", "Zelaya Quintanilla", "1995-12-24"))
    )
    case_id = case["case_id"]
    await eventually(lambda: _has_rows(intake, case_id), timeout=30)
    caplog.set_level(logging.DEBUG)
    body = {"name": "Xiomara Celaya", "date_of_birth": "1995-12-24"}
    assert await found(intake, body, GUATEMALA) == {case_id}
    assert await found(intake, {"name": "Nadie Nunca"}, GUATEMALA) == set()
    by_numbers = {"document_number": "XQ-778899", "phone": "+502 7788 9900"}
    assert await found(intake, by_numbers, GUATEMALA) == set()

    entries = [e for e in await intake.runtime.audit.entries(limit=1000) if "people" in e.route]
    by_case = [e for e in entries if e.case_id == case_id]
    assert [(e.actor, e.action, e.route) for e in by_case] == [
        ("cw-gt", "read", "POST /people/search by name+date_of_birth")
    ]
    # A search that found no one is audited too (without a case), and so is every request.
    assert ("cw-gt", None, "POST /people/search by name") in {
        (e.actor, e.case_id, e.route) for e in entries
    }
    assert sum(e.route == "POST /people/search" for e in entries) == 3

    # The terms are nowhere: not in a log record, the audit log, or any table of the index.
    logged = caplog.text.casefold()
    for term in ("xiomara", "celaya", "zelaya", "1995-12-24", "nadie", "778899", "77889900"):
        assert term not in logged, term
    async with intake.runtime.db.autocommit() as conn:
        audit = (await conn.execute(text("SELECT * FROM audit_log"))).all()
        tokens = (await conn.execute(select(search_tokens))).all()
    stored = " ".join(str(v) for row in [*audit, *tokens] for v in row).casefold()
    for term in ("xiomara", "celaya", "zelaya", "quintanilla", "1995-12-24", "778899"):
        assert term not in stored, term
    assert {len(row.token) for row in tokens} == {16}


PLANTED = {
    "name": "Robert'); DROP TABLE intake_search_tokens;-- %_ \\ \u0000 <script>",
    "document_number": "1234'; DELETE FROM intake_search_people;--",
    "phone": "+1 (555) 0100-0000' OR '1'='1",
}


@pytest.mark.parametrize("field", sorted(PLANTED))
async def test_a_value_planted_in_any_field_is_only_ever_a_term(intake: Intake, field: str) -> None:
    case = await intake.open_case(referral(household=household("Roberto", "Tablas", "1980-01-01")))
    await eventually(partial(_has_rows, intake, case["case_id"]), timeout=30)
    answer = await search(intake, {field: PLANTED[field]}, GUATEMALA)
    assert answer["items"] == [] and answer["total"] == 0
    assert await found(intake, {"name": "Roberto Tablas"}, GUATEMALA) == {case["case_id"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"name": "J. R."}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"document_number": "B-1"}, "document_number"),
        ({"phone": "5555 01"}, "phone"),
        ({"date_of_birth": "12/04/1990"}, "date_of_birth"),
        ({"name": "Quispe", "nickname": "Mari"}, "nickname"),
    ],
)
async def test_a_bad_search_is_a_problem_naming_the_field_without_echoing_it(
    intake: Intake, body: dict[str, Any], field: str
) -> None:
    response = await intake.http.post(SEARCH, json=body, headers=GUATEMALA)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in {e["field"] for e in problem["errors"]}, problem
    for value in body.values():
        assert value not in response.text


async def test_the_embedded_default_finds_people_too(tmp_path: Path) -> None:
    """SQLite and the in-process bus: the same index, query and scoping."""
    async with embedded(
        service, tmp_path / "intake.db", base_url="http://intake", keys=tmp_path / "keys.db"
    ) as (_, http, _bus):
        body = referral(household=household("Conceição", "dos Santos Gonçalves", "1966-06-06"))
        created = await http.post("/referrals", json=body, headers=GUATEMALA)
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        terms = {"name": "Conceicao Santos Goncalves", "date_of_birth": "1966-06-06"}

        async def found_by(headers: dict[str, str]) -> list[str]:
            response = await http.post(SEARCH, json=terms, headers=headers)
            assert response.status_code == 200, response.text
            return [i["case_id"] for i in response.json()["items"]]

        async def indexed() -> bool:
            return await found_by(GUATEMALA) == [case_id]

        await eventually(indexed, timeout=10)
        assert await found_by(TAPACHULA) == []


async def test_a_rebuild_gives_the_index_back_without_the_people_erased_since(
    intake: Intake,
) -> None:
    kept = await intake.open_case(referral(household=household("Inês", "Magalhães", "1988-08-08")))
    gone = await intake.open_case(referral(household=household("Inés", "Magallanes", "1988-08-08")))
    for case_id in (kept["case_id"], gone["case_id"]):
        await eventually(partial(_has_rows, intake, case_id), timeout=30)
    async with intake.runtime.db.autocommit() as conn:
        before = sorted(tuple(r) for r in await conn.execute(select(search_tokens)))
    # Erased with its keys only: the index still has the person until it sees the event ...
    await intake.runtime.cipher.erase(intake.person(gone, "principal"))

    [index] = [p for p in intake.runtime.projections if isinstance(p, PeopleIndex)]
    runner = ProjectionRunner(intake.runtime.db, registry, intake.runtime.group)
    assert await runner.rebuild(index) == 2  # the two referrals
    # ... and a rebuild decrypts the referrals again: the erased person gets no rows.
    assert await indexed(intake, kept["case_id"]) == 1
    assert await indexed(intake, gone["case_id"]) == 0
    async with intake.runtime.db.autocommit() as conn:
        after = sorted(tuple(r) for r in await conn.execute(select(search_tokens)))
    assert set(after) < set(before)
    assert await found(intake, {"name": "Ines Magalhaes"}, GUATEMALA) == {kept["case_id"]}


async def test_a_rectified_person_is_found_under_the_new_spelling_only(intake: Intake) -> None:
    case = await intake.open_case(
        referral(
            household=household("Jenifer", "Lópes", "1991-03-03"),
            contact_sharing_consented=True,
            contact={"phone": "+502 3030 4040"},
        )
    )
    case_id = case["case_id"]
    await eventually(partial(_has_rows, intake, case_id), timeout=30)
    person_id = intake.person(case, "principal")
    corrected = {"given_names": "Yennifer", "family_name": "Ortega", "date_of_birth": "1991-03-13"}
    event = PersonalDataRectified(
        case_id=case_id,
        person_id=person_id,
        fields=["given_names", "family_name", "date_of_birth"],
        personal=await intake.runtime.cipher.encrypt(person_id, corrected),
        reason="clerical_error",
        rectified_by="cw-gt",
        rectified_at=datetime.now(UTC),
    )
    [index] = [p for p in intake.runtime.projections if isinstance(p, PeopleIndex)]
    async with intake.runtime.db.transaction() as conn:
        data = event.model_dump(mode="json")
        await index.apply(
            conn,
            event,
            envelope("intake", "PersonalDataRectified", case_id, event.rectified_at, data),
        )

    assert await found(intake, {"name": "Jenifer Lopes"}, GUATEMALA) == set()
    assert (
        await found(intake, {"name": "Ortega", "date_of_birth": "1991-03-03"}, GUATEMALA) == set()
    )
    assert await found(
        intake, {"name": "Yenifer Ortega", "date_of_birth": "1991-03-13"}, GUATEMALA
    ) == {case_id}
    # The phone came with the referral's contact, which a rectification does not touch.
    assert await found(intake, {"phone": "3030-4040"}, GUATEMALA) == {case_id}
