"""The receiving mission's incoming list stops showing a person's needs the moment they
withdraw their consent to share them with reintegration partners.

``GET /incoming`` shows the vulnerability categories flagged for reintegration only of the
travellers whose ``share_with_reintegration_partners`` stands. A read answered after the 2xx
of its withdrawal never shows them, whether or not the consents read model has seen the
withdrawal yet: read at once, read racing the withdrawal (other connections), for the person
or for the whole household, on real PostgreSQL and Kafka and on the embedded default. Every
role of an unrelated office reads nothing of the movement.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
from generated_cases import PlannedCase, plan, published, published_in_process
from intake_fixtures import CASEWORKER, Intake, answered
from test_intake_incoming_list import SHARING, consented, screened

from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import reads_after_the_answer
from avrr_events.web.authorization import ROLES, Role
from avrr_intake.api import INCOMING_READERS


def user(role: str, *offices: str) -> dict[str, str]:
    """The development headers of a caller (both stacks take them; every one set, so the
    client's default caseworker does not leak into these)."""
    return {"X-AVRR-User": f"{role}-x", "X-AVRR-Roles": role, "X-AVRR-Offices": ",".join(offices)}


OFFICER = user("reintegration_officer", "HN-TGU")
NEED = "victim_of_trafficking"


def sharing_mother(case_id: str) -> PlannedCase:
    """A mother and her son ticketed from Guatemala City to Honduras; the mother, screened a
    victim of trafficking, consented to share it with reintegration partners."""
    case = plan(case_id, office="GT-GUA", origin="HN", phase="ticketed")
    screened(case, f"{case_id}-p0", NEED)
    consented(case, f"{case_id}-p0")
    return case


async def needs(http: httpx.AsyncClient, case_id: str, headers: dict[str, str] = OFFICER) -> Any:
    """What the incoming list shows ``headers``' caller of the case: (needs, needs_shared)."""
    body = answered(await http.get("/incoming", headers=headers, params={"limit": "200"}))
    item = next(i for i in body["items"] if i["case_id"] == case_id)
    return item["needs"], item["needs_shared"]


async def withdraw(http: httpx.AsyncClient, case_id: str, person_id: str | None) -> None:
    """Withdraw the sharing consent (of ``person_id``, or of the household)."""
    body: dict[str, Any] = {"reason": "safety_concerns"}
    if person_id is not None:
        body["person_id"] = person_id
    path = f"/cases/{case_id}/consents/{SHARING}/withdrawal"
    answered(await http.post(path, json=body, headers=CASEWORKER))


async def nothing_for_anyone_else(http: httpx.AsyncClient, case_id: str) -> None:
    """No reader of the destination's offices reads the case's needs; every role of an unrelated
    office (the sending one, another country's, none) reads nothing of the movement."""
    for role in ROLES:
        reader = Role(role) in INCOMING_READERS
        receiving = user(role, "HN-TGU")
        if reader:
            assert await needs(http, case_id, receiving) == ([], "none"), role
        else:
            got = await http.get("/incoming", headers=receiving)
            assert got.status_code == 403 and NEED not in got.text, role
        for offices in (("GT-GUA",), ("SV-SAL",), ("PT-LIS",), ()):
            got = await http.get("/incoming", headers=user(role, *offices))
            assert NEED not in got.text and case_id not in got.text, (role, offices)
            if reader:
                assert answered(got)["items"] == [], (role, offices)
            else:
                assert got.status_code == 403, (role, offices)


async def racing_reads(http: httpx.AsyncClient, case_id: str, person_id: str | None) -> None:
    """The withdrawal sent while readers read the incoming list over and over: every read
    sent after the withdrawal's answer shows none of the needs."""
    late = await reads_after_the_answer(
        partial(withdraw, http, case_id, person_id), [partial(needs, http, case_id)] * 3, delay=0.02
    )
    assert all(shown == ([], "none") for shown in late), late


SHOWN = ([{"person_id": "inw-1-p0", "categories": [NEED]}], "some")


async def drops_the_needs_at_once(http: httpx.AsyncClient) -> None:
    """Three sharing mothers' cases listed: each withdrawal (the person's, the household's,
    one racing reads) leaves the list without their needs from its answer on, for everyone."""
    assert await needs(http, "inw-1") == SHOWN
    await withdraw(http, "inw-1", "inw-1-p0")
    # Right after the answer, whether or not the read model has seen the withdrawal yet.
    assert await needs(http, "inw-1") == ([], "none")
    await nothing_for_anyone_else(http, "inw-1")
    await withdraw(http, "inw-2", None)
    assert await needs(http, "inw-2") == ([], "none")
    await racing_reads(http, "inw-3", "inw-3-p0")
    await nothing_for_anyone_else(http, "inw-3")


async def test_the_incoming_list_drops_the_needs_at_once_after_the_withdrawal(
    intake: Intake, kafka_settings: KafkaSettings
) -> None:
    await published(intake.runtime, kafka_settings, [sharing_mother(f"inw-{n}") for n in (1, 2, 3)])
    await drops_the_needs_at_once(intake.http)


async def test_the_embedded_default_drops_the_needs_at_once(
    embedded: tuple[Intake, InProcessBus],
) -> None:
    intake, bus = embedded
    await published_in_process(intake.runtime, bus, [sharing_mother(f"inw-{n}") for n in (1, 2, 3)])
    await drops_the_needs_at_once(intake.http)
