"""The case file hides the contact the moment the person withdraws their consent to be contacted.

A read of ``GET /cases/{case_id}`` answered after the 2xx of the withdrawal of
``contact_by_programme`` never shows the principal's contact details, whether or not
the read model has seen the withdrawal yet: read at once, read racing the withdrawal
(other connections), read on another process of intake, for the principal or for the
whole household, on real PostgreSQL and Kafka and on the embedded default. The contact
comes back neither by a reopening of the case nor by a rectification of it while the
consent stands withdrawn; given again, it shows. Every reader of the case's office
reads it hidden; every role of an unrelated office reads nothing of the case.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from intake_fixtures import CASEWORKER, Intake, answered, consent, referral

from avrr_events.harness import embedded
from avrr_events.testing import ServiceProcess, reads_after_the_answer
from avrr_events.web.authorization import ROLES
from avrr_intake.api import CASE_READERS, CONSENT_WITHDRAWN
from avrr_intake.consent import CONTACT_BY_PROGRAMME
from avrr_intake.main import service

PHONE = "+502 5555 0199"  # the referral's contact (intake_fixtures.referral)
CORRECTED = "+502 7777 1212"
OTHER_OFFICE = "HN-TGU"  # intake's fixtures refer to GT-GUA; this office has nothing to do with it


def user(role: str, offices: str) -> dict[str, str]:
    # Every header set: the client's default caller must not leak into these.
    return {"X-AVRR-User": f"{role}-x", "X-AVRR-Roles": role, "X-AVRR-Offices": offices}


async def contact_consented(http: httpx.AsyncClient) -> tuple[str, str]:
    """A case whose principal consented to be contacted, its file showing their contact once
    the read model has it: (case id, principal)."""
    created = answered(await http.post("/referrals", json=referral(), headers=CASEWORKER), 201)
    case_id = created["case_id"]
    mother = next(p["person_id"] for p in created["household"] if p["relationship"] == "principal")
    given = await http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "return_assistance_processing", CONTACT_BY_PROGRAMME),
        headers=CASEWORKER,
    )
    await caught_up(http, case_id, answered(given, 201)["version"])
    assert (await contact(http, case_id))["phone"] == PHONE
    return case_id, mother


async def caught_up(http: httpx.AsyncClient, case_id: str, version: int) -> dict[str, Any]:
    """The case file once the read model has applied ``version``."""
    for _ in range(600):
        response = await http.get(f"/cases/{case_id}", headers=CASEWORKER)
        if response.status_code == 200 and response.json()["version"] >= version:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"case {case_id} never reached version {version}")


async def contact(
    http: httpx.AsyncClient, case_id: str, headers: dict[str, str] = CASEWORKER
) -> Any:
    """The contact the case file shows ``headers``' caller."""
    return answered(await http.get(f"/cases/{case_id}", headers=headers))["contact"]


async def withdraw(http: httpx.AsyncClient, case_id: str, person_id: str | None) -> int:
    """Withdraw the contact consent (of ``person_id``, or of the household); the version."""
    body: dict[str, Any] = {"reason": "safety_concerns"}
    if person_id is not None:
        body["person_id"] = person_id
    path = f"/cases/{case_id}/consents/{CONTACT_BY_PROGRAMME}/withdrawal"
    return int(answered(await http.post(path, json=body, headers=CASEWORKER))["version"])


async def hidden_for_every_role(http: httpx.AsyncClient, case_id: str) -> None:
    """The case's readers read the contact hidden; anyone else, of the case's office or of
    an unrelated one, is refused the case file (and never reads the phone)."""
    for role in ROLES:
        for offices in ("GT-GUA", OTHER_OFFICE):
            response = await http.get(f"/cases/{case_id}", headers=user(role, offices))
            assert PHONE not in response.text and "maria.quispe" not in response.text, role
            if role in CASE_READERS and offices == "GT-GUA":
                assert response.status_code == 200, (role, response.text)
                assert response.json()["contact"] == CONSENT_WITHDRAWN, role
            else:
                assert response.status_code in (403, 404), (role, offices, response.text)


async def test_the_case_file_hides_the_contact_at_once_after_the_withdrawal(
    intake: Intake,
) -> None:
    case_id, mother = await contact_consented(intake.http)
    version = await withdraw(intake.http, case_id, mother)
    # Right after the answer, whether or not the read model has seen the withdrawal yet.
    assert await contact(intake.http, case_id) == CONSENT_WITHDRAWN
    await hidden_for_every_role(intake.http, case_id)
    await caught_up(intake.http, case_id, version)
    await hidden_for_every_role(intake.http, case_id)


async def test_a_withdrawal_for_the_whole_household_hides_it_at_once_too(intake: Intake) -> None:
    case_id, _mother = await contact_consented(intake.http)
    await withdraw(intake.http, case_id, None)
    assert await contact(intake.http, case_id) == CONSENT_WITHDRAWN


async def test_neither_a_reopening_nor_a_rectification_brings_the_contact_back(
    intake: Intake,
) -> None:
    http = intake.http
    case_id, mother = await contact_consented(http)
    await withdraw(http, case_id, mother)
    # A contact corrected while the consent stands withdrawn is not shown either.
    body = {"person_id": mother, "contact": {"phone": CORRECTED}, "reason": "clerical_error"}
    rectified = answered(await http.post(f"/cases/{case_id}/rectifications", json=body), 201)
    assert await contact(http, case_id) == CONSENT_WITHDRAWN
    await caught_up(http, case_id, rectified["version"])
    assert await contact(http, case_id) == CONSENT_WITHDRAWN
    # The case ends and is taken up again with the return's consent only.
    answered(await http.post(f"/cases/{case_id}/withdrawal", json={"reason": "changed_mind"}))
    reopening = {"reason": "person_returned", "consent": consent(mother)}
    reopened = answered(await http.post(f"/cases/{case_id}/reopening", json=reopening))
    assert await contact(http, case_id) == CONSENT_WITHDRAWN
    await caught_up(http, case_id, reopened["version"])
    await hidden_for_every_role(http, case_id)
    # Given again, the person may be reached, at the corrected phone, once the read model
    # has the consent (until then the file errs on the side of hiding it).
    given = await http.post(
        f"/cases/{case_id}/consents", json=consent(mother, CONTACT_BY_PROGRAMME)
    )
    await caught_up(http, case_id, answered(given, 201)["version"])
    assert (await contact(http, case_id)) == {"phone": CORRECTED}


async def racing_reads(
    withdrawing: httpx.AsyncClient, readers: list[httpx.AsyncClient], case_id: str, mother: str
) -> None:
    """The withdrawal sent while ``readers`` read the case file over and over: every read
    sent after the withdrawal's answer shows the contact hidden."""
    late = await reads_after_the_answer(
        partial(withdraw, withdrawing, case_id, mother),
        [partial(contact, http, case_id) for http in readers],
        times=40,
        delay=0.02,
    )
    assert all(shown == CONSENT_WITHDRAWN for shown in late), late


async def test_reads_racing_the_withdrawal_never_show_the_contact_after_its_answer(
    intake: Intake,
) -> None:
    case_id, mother = await contact_consented(intake.http)
    await racing_reads(intake.http, [intake.http, intake.http, intake.http], case_id, mother)


async def test_another_intake_process_hides_the_contact_at_once(
    service_processes: Any, kafka_bootstrap: str
) -> None:
    """Two intake processes on one database, as a deployment scaled out: the withdrawal
    answered by one, the case file read on the other, at once and racing it."""
    first: ServiceProcess = (await service_processes("intake"))["intake"]
    again = await service_processes("intake", DATABASE_URL=first.database_url)
    second: ServiceProcess = again["intake"]
    async with AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=p.url, headers=CASEWORKER, timeout=30.0)
            )
            for p in (first, second)
        ]
        case_id, mother = await contact_consented(a)
        await caught_up(b, case_id, (await b.get(f"/cases/{case_id}")).json()["version"])
        await withdraw(a, case_id, mother)
        assert await contact(b, case_id) == CONSENT_WITHDRAWN
        await hidden_for_every_role(b, case_id)

        case_id, mother = await contact_consented(a)
        await racing_reads(a, [a, b, b], case_id, mother)


async def test_the_embedded_default_hides_the_contact_at_once(tmp_path: Path) -> None:
    async with embedded(
        service, tmp_path / "intake.db", base_url="http://intake", keys=tmp_path / "keys.db"
    ) as (_, http, _bus):
        case_id, mother = await contact_consented(http)
        await withdraw(http, case_id, mother)
        assert await contact(http, case_id) == CONSENT_WITHDRAWN
        await hidden_for_every_role(http, case_id)
        case_id, mother = await contact_consented(http)
        await racing_reads(http, [http, http], case_id, mother)
