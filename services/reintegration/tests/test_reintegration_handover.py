"""The receiving office that confirmed the arrival works the reintegration case too (the
handover); an arrival confirmed by a partner hands the case over to no office."""

from __future__ import annotations

from datetime import timedelta

from fastapi.responses import JSONResponse
from reintegration_fixtures import ARRIVED, OFFICER, RunningReintegration, plan

from avrr_events.testing import audited_reads, eventually, refused_to_another_office
from avrr_reintegration import read_models
from avrr_reintegration.api import _plain

PLAN = {
    "components": [c.model_dump(mode="json") for c in plan()],
    "agreed_at": (ARRIVED + timedelta(days=10)).isoformat(),
}
RECEIVER = {
    "X-AVRR-User": "poa-officer-1",
    "X-AVRR-Roles": "reintegration_officer",
    "X-AVRR-Offices": "BR-POA",
}


async def test_the_receiving_office_works_the_case_once_handed_over(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.confirm_arrival("ho-1", "receiving_office", "BR-POA")
    await r.confirm_arrival("ho-2", "partner", "casa-do-migrante")

    async def handed_over() -> bool:
        return (await r.http.get("/cases/ho-1", headers=RECEIVER)).status_code == 200

    await eventually(handed_over, timeout=30)
    agreed = await r.post("/cases/ho-1/plan", PLAN, RECEIVER)
    assert agreed.status_code == 201, agreed.text
    # The movement's office keeps the case.
    assert (await r.http.get("/cases/ho-1", headers=OFFICER)).status_code == 200
    # A partner's confirmation names no office: nothing handed over.
    assert (await r.http.get("/cases/ho-2", headers=RECEIVER)).status_code == 403
    assert (await r.post("/cases/ho-2/plan", PLAN, RECEIVER)).status_code == 403


async def test_an_office_outside_the_destination_country_is_handed_nothing(
    reintegration: RunningReintegration,
) -> None:
    """Defence in depth: travel refuses a receiving office outside the destination country,
    and reintegration does not trust that it did (a forged record, an older travel)."""
    r = reintegration
    lisbon = {**RECEIVER, "X-AVRR-User": "lis-officer-1", "X-AVRR-Offices": "PT-LIS"}
    await r.confirm_arrival("ho-pt", "receiving_office", "PT-LIS")  # an office, but in Portugal
    await r.confirm_arrival("ho-nowhere", "receiving_office", "BR-NOWHERE")  # not in the registry
    # wait_for saw the case decided: the same batch ran the hand-over projection.
    for case_id in ("ho-pt", "ho-nowhere"):
        assert (await r.http.get(f"/cases/{case_id}", headers=OFFICER)).status_code == 200
    assert (await r.http.get("/cases/ho-pt", headers=lisbon)).status_code == 403
    assert (await r.post("/cases/ho-pt/plan", PLAN, lisbon)).status_code == 403
    assert (await r.http.get("/cases/ho-nowhere", headers=RECEIVER)).status_code == 403


async def test_the_case_detail_is_read_with_its_offices_and_refused_elsewhere_unseen(
    reintegration: RunningReintegration,
) -> None:
    """The detail is read with its offices in one statement: the movement's office gets it
    (plan revealed, money as decimal strings, ETag the stream's version) as the case's view
    is written by ``_plain``, another office a 403 that shows nothing of the case, an
    unknown case 404; each read is in the audit trail with its outcome."""
    r = reintegration
    case = "ho-read-elsewhere"
    await r.arrive(case)
    await r.agree_plan(case, plan())
    await r.wait_for(case, plan_total="550.00")
    path = f"/cases/{case}"
    read = await r.http.get(path, headers=OFFICER)
    assert read.status_code == 200, read.text
    version = await r.runtime.store.stream_version(f"reintegration-{case}")
    assert read.headers["etag"] == f'"{version}"'
    view = await read_models.case_view(r.runtime.db, case)
    revealed = await r.runtime.cipher.reveal(view)
    assert read.content == JSONResponse(_plain(revealed)).body
    assert "sewing workshop" in read.text and read.json()["plan_total"] == "550.00"

    lisbon = {**RECEIVER, "X-AVRR-User": "lis-officer-1", "X-AVRR-Offices": "PT-LIS"}
    await refused_to_another_office(r.http, path, lisbon, unseen=["sewing", "BR-BSB"])
    assert (await r.http.get("/cases/ho-none", headers=OFFICER)).status_code == 404

    reads = await audited_reads(r.http, case, "GET /cases/{case_id}")
    assert reads[-2:] == [("officer-1", 200), ("lis-officer-1", 403)]
