"""An assessment belongs to its case's office: users of other offices neither read it nor
decide on it (403, nothing written); a headquarters account (office ``*``) reads every office's."""

from __future__ import annotations

from eligibility_fixtures import SUPERVISOR, Eligibility, return_requested
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from avrr_events.testing import audited_reads, refused_to_another_office

TAPACHULA = {"X-AVRR-User": "cw-mx", "X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "MX-TAP"}
NO_OFFICE = {"X-AVRR-User": "sup-2", "X-AVRR-Roles": "supervisor", "X-AVRR-Offices": ""}


async def test_another_offices_assessment_is_neither_read_nor_decided(
    eligibility: Eligibility,
) -> None:
    await eligibility.from_intake(
        "ReturnRequested", return_requested("s-gt", office="GT-GUA", host="GT")
    )
    before = await eligibility.assessment("s-gt")
    http = eligibility.http
    for who in (TAPACHULA, NO_OFFICE):
        for path in ("/assessments/s-gt", "/assessments/s-gt/decision"):
            response = await http.get(path, headers=who)
            assert response.status_code == 403, (who, path)
            assert response.headers["content-type"] == "application/problem+json"
        screening = await http.post(
            "/assessments/s-gt/vulnerability-screenings",
            json={"categories": [{"category": "elderly", "severity": "low"}]},
            headers=who,
        )
        assert screening.status_code == 403
    after = await http.get("/assessments/s-gt", headers=SUPERVISOR)
    assert after.status_code == 200
    assert after.json()["version"] == before["version"]  # nothing was written
    assert (await http.get("/assessments/s-gt")).status_code == 200  # its own office's caseworker


async def test_the_assessment_detail_is_read_with_its_office_and_refused_elsewhere_unseen(
    eligibility: Eligibility,
) -> None:
    """The detail is read with its office in one statement: its office's caseworker gets it
    (ETag the version, the bytes ``JSONResponse`` writes), another office's a 403 that
    shows nothing of the assessment, an unknown case 404; each read is in the audit trail
    with its outcome."""
    case = "s-read-elsewhere"
    await eligibility.from_intake(
        "ReturnRequested", return_requested(case, office="GT-GUA", host="GT")
    )
    before = await eligibility.assessment(case)
    http = eligibility.http
    path = f"/assessments/{case}"
    read = await http.get(path)
    assert read.status_code == 200, read.text
    assert read.headers["etag"] == f'"{before["version"]}"'
    assert read.json()["case_id"] == case
    assert read.content == JSONResponse(jsonable_encoder(read.json())).body
    await refused_to_another_office(http, path, TAPACHULA, unseen=["GT-GUA", '"household"'])
    assert (await http.get("/assessments/s-none")).status_code == 404

    reads = await audited_reads(http, case, "GET /assessments/{case_id}")
    assert [outcome for _, outcome in reads[-2:]] == [200, 403]
    assert reads[-1][0] == "cw-mx"
