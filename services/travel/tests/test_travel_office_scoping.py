"""A movement belongs to its case's office: other offices' officers, doctors and caseworkers
neither read nor change it (403, nothing written). Its arrival is recorded by its travel
officer, or confirmed by the receiving office in its own name, which hands the case over."""

from __future__ import annotations

from travel_fixtures import MEDIC, OFFICER, RECEIVING_OFFICE, Travel, member, ticket

from avrr_events.testing import audited_reads, refused_to_another_office


def elsewhere(headers: dict[str, str], office: str = "MX-TAP") -> dict[str, str]:
    return {**headers, "X-AVRR-Offices": office}


async def test_another_offices_movement_is_neither_read_nor_changed(travel: Travel) -> None:
    case = "case-scoped"
    opened = await travel.opened(case, [member("p-1", 40)])
    http = travel.http
    for who, path in (
        (OFFICER, f"/movements/{case}"),
        (OFFICER, f"/movements/{case}/transit-assistance"),
        (MEDIC, f"/movements/{case}/medical"),
    ):
        assert (await http.get(path, headers=who)).status_code == 200, path
        refused = await http.get(path, headers=elsewhere(who))
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await http.get(path, headers=elsewhere(who, ""))).status_code == 403, path

    document = {"person_id": "p-1", "document_type": "passport", "obtained_on": "2026-01-02"}
    r = await travel.post(f"/movements/{case}/documents", document, elsewhere(OFFICER))
    assert r.status_code == 403
    fitness = {"person_id": "p-1", "outcome": "fit"}
    r = await travel.post(f"/movements/{case}/fitness", fitness, elsewhere(MEDIC))
    assert r.status_code == 403
    assert (await travel.wait_for(case))["version"] == opened["version"]  # nothing written

    board = {"office": "GT-GUA", "on": "2026-01-15"}
    assert (await http.get("/departures", params=board, headers=OFFICER)).status_code == 200
    other = await http.get("/departures", params=board, headers=elsewhere(OFFICER))
    assert other.status_code == 403


async def test_the_receiving_office_confirms_an_arrival_only_in_its_own_name(
    travel: Travel,
) -> None:
    case = "case-arriving"
    await travel.opened(case, [member("p-1", 40)])
    await travel.make_ready(case, ["p-1"])
    assert (await travel.post(f"/movements/{case}/ticket", ticket())).status_code == 200
    assert (await travel.post(f"/movements/{case}/departure", {})).status_code == 200

    # Naming an office that is not its own, or in a partner's name: refused.
    other_office = {"confirmed_by": "receiving_office", "confirmer_id": "HN-TGU"}
    r = await travel.post(f"/movements/{case}/arrival", other_office, RECEIVING_OFFICE)
    assert r.status_code == 403
    as_partner = {"confirmed_by": "partner", "confirmer_id": "HN-SPS"}
    r = await travel.post(f"/movements/{case}/arrival", as_partner, RECEIVING_OFFICE)
    assert r.status_code == 403
    # Nor may another office's travel officer record it.
    own = {"confirmed_by": "receiving_office", "confirmer_id": "HN-SPS"}
    r = await travel.post(f"/movements/{case}/arrival", own, elsewhere(OFFICER))
    assert r.status_code == 403

    r = await travel.post(f"/movements/{case}/arrival", own, RECEIVING_OFFICE)
    assert r.status_code == 200, r.text
    arrived = await travel.wait_for(case, status="arrived")
    assert arrived["arrival"]["confirmer_id"] == "HN-SPS"


async def test_another_offices_read_of_a_movement_is_refused_and_audited_with_nothing_of_it(
    travel: Travel,
) -> None:
    """The detail is read with its office in one statement: the office's officer gets it
    with its version as ETag, another office's a 403 that shows nothing of the movement,
    an unknown movement 404; each read is in the audit trail with its outcome."""
    case = "case-read-elsewhere"
    opened = await travel.opened(case, [member("p-1", 40)])
    path = f"/movements/{case}"
    read = await travel.http.get(path, headers=OFFICER)
    assert read.status_code == 200
    assert read.headers["etag"] == f'"{opened["version"]}"'
    await refused_to_another_office(travel.http, path, elsewhere(OFFICER), unseen=["p-1", "GT-GUA"])
    assert (await travel.http.get("/movements/case-none", headers=OFFICER)).status_code == 404

    reads = await audited_reads(travel.http, case, "GET /movements/{case_id}")
    # The last two: the ones above (waiting for the movement read it too, 404 then 200).
    assert reads[-2:] == [("officer-1", 200), ("officer-1", 403)]
