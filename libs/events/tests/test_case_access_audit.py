"""Every read and write of a case is audited, auditors can query it, and tampering shows."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from sample_domain import registry
from sqlalchemy import update

from avrr_events.audit import audit_log
from avrr_events.http import Principal, current_principal
from avrr_events.service import Service, ServiceRuntime, ServiceSettings

router = APIRouter()
User = Annotated[Principal, Depends(current_principal)]


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


def as_user(user: str, roles: str = "caseworker") -> dict[str, str]:
    return {"X-AVRR-User": user, "X-AVRR-Roles": roles}


async def test_case_reads_and_writes_are_audited_and_a_broken_chain_is_detected(
    any_db_url: str,
) -> None:
    runtime = ServiceRuntime(audited, ServiceSettings(database_url=any_db_url, dev=True))
    app = runtime.app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
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
        assert verdict == {"intact": True, "first_broken_entry": None}

        async with runtime.db.transaction() as conn:
            await conn.execute(
                update(audit_log).where(audit_log.c.id == entries[1]["id"]).values(actor="eve")
            )
        verdict = (await http.get("/audit/verification", headers=auditor)).json()
        assert verdict == {"intact": False, "first_broken_entry": entries[1]["id"]}


async def test_a_case_read_that_cannot_be_audited_is_refused_not_delivered(
    any_db_url: str,
) -> None:
    # The response is held until its audit entry is durable: with the audit table
    # gone, the caller gets a 503 problem and none of the case's data.
    runtime = ServiceRuntime(audited, ServiceSettings(database_url=any_db_url, dev=True))
    app = runtime.app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.get("/cases/c-9", headers=as_user("ana"))).status_code == 200
        async with runtime.db.transaction() as conn:
            await conn.run_sync(audit_log.drop)

        refused = await http.get("/cases/c-9", headers=as_user("ana"))
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert "c-9" not in refused.text
        # Routes that touch no case are not held back by the audit log.
        assert (await http.get("/offices", headers=as_user("ana"))).status_code == 200
