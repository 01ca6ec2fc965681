"""Every read and write of personal data is audited (case routes, lists of cases, a
referral that opens a case), auditors can query it, and tampering shows, the database
owner's included: deleted last entries and entries rewritten with recomputed hashes."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from fastapi import APIRouter, Request
from sample_domain import registry
from sample_service import User
from sqlalchemy import delete, update

from avrr_events.adapters.audit_anchor import ANCHOR_TYPE
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.audit import audit_log
from avrr_events.settings import ServiceSettings
from avrr_events.testing import (
    eventually,
    read_topic,
    rewrite_audit_log_as_owner,
    serving,
    tamper_with_audit_log_as_owner,
)
from avrr_events.web.authorization import Policy, Role, allow
from avrr_events.web.service import Service, ServiceRuntime

router = APIRouter()


@router.get("/cases/{case_id}")
async def read_case(case_id: str, _user: User) -> dict[str, str]:
    return {"case_id": case_id}


@router.post("/cases/{case_id}/notes")
async def write_case(case_id: str, _user: User) -> dict[str, str]:
    return {"case_id": case_id}


@router.get("/offices")
async def not_a_case(_user: User) -> list[str]:
    return []


audited = Service(name="audited", registry=registry, router=router)


def without_kafka(service: Service, url: str) -> ServiceRuntime:
    """The service on the database at ``url`` alone: no broker, development defaults."""
    settings = ServiceSettings(database_url=url, kafka_bootstrap_servers=None, dev=True)
    return ServiceRuntime(service, settings)


def as_user(user: str, roles: str = "caseworker") -> dict[str, str]:
    return {"X-AVRR-User": user, "X-AVRR-Roles": roles}


async def test_case_reads_and_writes_are_audited_and_a_broken_chain_is_detected(
    any_db_url: str,
) -> None:
    runtime = without_kafka(audited, any_db_url)
    async with serving(runtime) as http:
        assert (await http.get("/cases/c-1", headers=as_user("ana"))).status_code == 200
        assert (await http.post("/cases/c-1/notes", headers=as_user("ben"))).status_code == 200
        assert (await http.get("/cases/c-2", headers=as_user("ana"))).status_code == 200
        assert (await http.get("/offices", headers=as_user("ana"))).status_code == 200
        assert (await http.get("/cases/c-1")).status_code == 401  # no principal: not audited

        auditor = as_user("aud", "auditor")
        assert (await http.get("/audit", headers=as_user("ana"))).status_code == 403
        entries = (await http.get("/audit?case_id=c-1", headers=auditor)).json()
        assert [(e["actor"], e["action"], e["route"], e["outcome"]) for e in entries] == [
            ("ana", "read", "GET /cases/{case_id}", 200),
            ("ben", "write", "POST /cases/{case_id}/notes", 200),
        ]
        assert entries[0]["client"] == "127.0.0.1"
        assert len((await http.get("/audit", headers=auditor)).json()) == 3
        verdict = (await http.get("/audit/verification", headers=auditor)).json()
        assert verdict["intact"] is True
        assert verdict["first_broken_entry"] is None

        await tamper_with_audit_log_as_owner(
            runtime.db,
            update(audit_log).where(audit_log.c.id == entries[1]["id"]).values(actor="eve"),
        )
        verdict = (await http.get("/audit/verification", headers=auditor)).json()
        assert verdict["intact"] is False
        assert verdict["first_broken_entry"] == entries[1]["id"]


# A service with a policy, as the real ones: which routes touch personal data
# follows from their rules (a case id in the path, or a rule scoped to offices,
# to the caller's own records or to the route's own check).
listing = APIRouter()


@listing.get("/cases")
async def list_cases(_user: User) -> list[dict[str, str]]:
    return [{"case_id": "c-1", "name": "Ana"}]


@listing.get("/departures")
async def list_departures(_user: User) -> list[dict[str, str]]:
    return [{"case_id": "c-1"}]


@listing.post("/referrals", status_code=201)
async def open_case(_user: User) -> dict[str, str]:
    return {"case_id": "c-new", "status": "open"}


@listing.get("/cases/{case_id}")
async def read_one(case_id: str, _user: User) -> dict[str, str]:
    return {"case_id": case_id}


@listing.get("/programmes")
async def catalogue(_user: User) -> list[str]:
    return ["p-1"]


async def _no_offices(_request: Request, _case_id: str) -> frozenset[str] | None:
    return None


listed = Service(
    name="listed",
    registry=registry,
    router=listing,
    policy=Policy(
        {
            "GET /cases": allow(Role.CASEWORKER, scope="office"),
            "GET /departures": allow(Role.CASEWORKER, scope="office"),
            "POST /referrals": allow(Role.CASEWORKER, scope="handler"),
            "GET /cases/{case_id}": allow(Role.CASEWORKER, scope="case"),
            "GET /programmes": allow(Role.CASEWORKER),
        },
        case_offices=_no_offices,
    ),
)


async def test_lists_of_cases_and_a_referral_that_opens_a_case_are_audited(
    any_db_url: str,
) -> None:
    runtime = without_kafka(listed, any_db_url)
    async with serving(runtime) as http:
        ana = {**as_user("ana"), "X-AVRR-Offices": "GT-GUA"}
        assert (await http.get("/cases", headers=ana)).status_code == 200
        assert (await http.get("/departures?office=GT-GUA", headers=ana)).status_code == 200
        assert (await http.post("/referrals", headers=ana)).status_code == 201
        assert (await http.get("/cases/c-new", headers=ana)).status_code == 200
        assert (await http.get("/programmes", headers=ana)).status_code == 200  # no one's data

        entries = (await http.get("/audit", headers=as_user("aud", "auditor"))).json()
        assert [(e["actor"], e["action"], e["route"], e["case_id"]) for e in entries] == [
            ("ana", "read", "GET /cases", None),
            ("ana", "read", "GET /departures", None),
            ("ana", "write", "POST /referrals", "c-new"),
            ("ana", "read", "GET /cases/{case_id}", "c-new"),
        ]


@pytest.mark.parametrize(
    ("service", "path", "data", "untouched"),
    [
        pytest.param(audited, "/cases/c-9", "c-9", "/offices", id="a-case-read"),
        pytest.param(listed, "/cases", "Ana", "/programmes", id="a-list-of-cases"),
    ],
)
async def test_a_read_that_cannot_be_audited_is_refused_not_delivered(
    service: Service, path: str, data: str, untouched: str, any_db_url: str
) -> None:
    # The response is held until its audit entry is durable: with the audit table
    # gone, the caller gets a 503 problem and none of the data.
    runtime = without_kafka(service, any_db_url)
    async with serving(runtime) as http:
        assert (await http.get(path, headers=as_user("ana"))).status_code == 200
        async with runtime.db.transaction() as conn:
            await conn.run_sync(audit_log.drop)

        refused = await http.get(path, headers=as_user("ana"))
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert data not in refused.text
        # Routes that touch no one's data are not held back by the audit log.
        assert (await http.get(untouched, headers=as_user("ana"))).status_code == 200


async def test_verification_reports_deleted_last_entries_and_a_rewrite_with_recomputed_hashes(
    service_settings: ServiceSettings, kafka_settings: KafkaSettings
) -> None:
    # The attack of the database's owner: delete the last entries, rewrite one and
    # recompute every hash after it. The chain left is whole as a plain hash chain;
    # the keyed hashes show the rewrite, the head anchored on the audit topic
    # (outside the database) shows the deletion.
    settings = service_settings.model_copy(update={"audit_anchor_interval": 0.3})
    runtime = ServiceRuntime(listed, settings)
    auditor = as_user("aud", "auditor")
    async with serving(runtime) as http:
        for i in range(6):
            assert (await http.get(f"/cases/c-{i}", headers=as_user("ana"))).status_code == 200
        entries = (await http.get("/audit", headers=auditor)).json()
        ids = [e["id"] for e in entries]
        assert len(ids) == 6

        async def anchored() -> bool:
            found = (await http.get("/audit/verification", headers=auditor)).json()
            return bool((found["anchor"] or {}).get("sequence") == ids[-1])

        await eventually(anchored)
        verdict = (await http.get("/audit/verification", headers=auditor)).json()
        assert verdict["intact"] is True, verdict
        [*_, record] = await read_topic(kafka_settings, settings.audit_topic("listed"), 1)
        anchor = from_binary(
            KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
            JSONFormat(),
        )  # the official CloudEvents SDK reads anchors as it reads every record
        assert anchor.get_type() == ANCHOR_TYPE
        assert anchor.get_data() == {"sequence": ids[-1], "hash": entries[-1]["hash"]}

        # The service's own connection cannot do it: the table is insert-only.
        refused = 0
        for statement in (
            update(audit_log).values(actor="eve"),
            delete(audit_log).where(audit_log.c.id == ids[-1]),
        ):
            try:
                async with runtime.db.transaction() as conn:
                    await conn.execute(statement)
            except Exception as exc:
                assert "insert-only" in str(exc)
                refused += 1
        assert refused == 2

        await rewrite_audit_log_as_owner(
            runtime.db, keep=4, rewritten=ids[2], column="case_id", value="c-other"
        )

        verdict = (await http.get("/audit/verification", headers=auditor)).json()
        assert verdict["intact"] is False
        assert verdict["first_broken_entry"] == ids[2]  # the rewrite
        assert verdict["truncated"] is True  # the deletion
        assert verdict["last_entry"] == ids[3]
        assert verdict["anchor"]["sequence"] == ids[-1]
