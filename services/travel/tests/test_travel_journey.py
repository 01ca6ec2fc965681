"""A household's whole journey on real Kafka + PostgreSQL: cleared -> arrived, and its refusals."""

from __future__ import annotations

from datetime import date, timedelta

from travel_fixtures import (
    CASEWORKER,
    MEDIC,
    OFFICER,
    RECEIVING_OFFICE,
    Travel,
    member,
    ticket,
)


async def test_full_path_cleared_documents_fit_ticket_departure_arrival(travel: Travel) -> None:
    case = "case-journey"
    opened = await travel.opened(case)
    assert [t["person_id"] for t in opened["travellers"]] == ["p-mother", "p-daughter"]
    assert opened["destination_country"] == "HN" and opened["office"] == "GT-GUA"

    # The daughter needs an emergency travel document from the consulate; the mother has a passport.
    r = await travel.post(
        f"/movements/{case}/document-requests",
        {
            "person_id": "p-daughter",
            "document_type": "emergency_travel_document",
            "requested_on": str(date.today() - timedelta(days=2)),
        },
    )
    assert r.status_code == 200, r.text
    for pid, kind in (("p-mother", "passport"), ("p-daughter", "emergency_travel_document")):
        r = await travel.post(
            f"/movements/{case}/documents",
            {"person_id": pid, "document_type": kind, "obtained_on": str(date.today())},
        )
        assert r.status_code == 200, r.text
    for pid in ("p-mother", "p-daughter"):
        r = await travel.post(
            f"/movements/{case}/fitness", {"person_id": pid, "outcome": "fit"}, MEDIC
        )
        assert r.status_code == 200, r.text

    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ticketed"
    assert r.headers["ETag"] == f'"{r.json()["version"]}"'

    # The board and the manifest of the departure day show the household.
    detail = await travel.wait_for(case, status="ticketed")
    day = detail["booking"]["departure_date"]
    board = await travel.http.get(
        "/departures", params={"office": "GT-GUA", "on": day}, headers=OFFICER
    )
    assert board.status_code == 200
    assert [(d["case_id"], d["travellers"]) for d in board.json()["departures"]] == [(case, 2)]
    manifest = await travel.http.get(
        f"/manifests/{day}", params={"office": "GT-GUA"}, headers=OFFICER
    )
    assert manifest.status_code == 200, manifest.text
    (departure,) = manifest.json()["departures"]
    assert departure["booking_reference"] == "AV-7Q2K9"
    assert [t["person_id"] for t in departure["travellers"]] == ["p-mother", "p-daughter"]
    assert departure["travellers"][1]["travel_document"]["status"] == "obtained"
    assert (await travel.http.get(f"/manifests/{day}", headers=CASEWORKER)).status_code == 403

    r = await travel.post(f"/movements/{case}/departure", {})
    assert r.status_code == 200, r.text
    r = await travel.post(
        f"/movements/{case}/transit-assistance",
        {"point": "SAL", "note": "met at the gate, connection assisted"},
    )
    assert r.status_code == 200, r.text
    r = await travel.post(
        f"/movements/{case}/arrival",
        {"confirmed_by": "receiving_office", "confirmer_id": "HN-SPS"},
        RECEIVING_OFFICE,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "arrived"

    # Reintegration learns of the arrival from the Kafka topic.
    events = await travel.events(subject=case, wanted="avrr.travel.ArrivalConfirmed")
    types = [e.type for e in events]
    assert types == [
        "avrr.travel.MovementOpened",
        "avrr.travel.TravelDocumentRequested",
        "avrr.travel.TravelDocumentObtained",
        "avrr.travel.TravelDocumentObtained",
        "avrr.travel.FitForTravelConfirmed",
        "avrr.travel.FitForTravelConfirmed",
        "avrr.travel.TicketIssued",
        "avrr.travel.DepartureConfirmed",
        "avrr.travel.TransitAssistanceNoted",
        "avrr.travel.ArrivalConfirmed",
    ]
    arrival = events[-1]
    assert arrival.data["programme_id"] == "avr-mesoamerica"
    assert arrival.data["office"] == "GT-GUA"
    assert arrival.data["destination_country"] == "HN"
    assert arrival.data["destination_region"] == "Cortes"
    assert arrival.data["confirmed_by"] == "receiving_office"
    # The opening, a reaction, keeps the clearance's correlation; the REST commands correlate
    # by the case id (avrr_events.commands: one rule for every service).
    assert events[0].correlationid == f"corr-{case}"
    assert {e.correlationid for e in events[1:]} == {case}

    final = await travel.wait_for(case, status="arrived")
    assert final["arrival"]["confirmed_by"] == "receiving_office"
    notes = await travel.http.get(f"/movements/{case}/transit-assistance", headers=OFFICER)
    assert notes.json()["notes"][0]["note"] == "met at the gate, connection assisted"
    assert b"connection assisted" not in b"".join(
        str(e.data).encode() for e in events
    )  # encrypted on the wire


async def test_ticket_refused_without_documents_or_fitness(travel: Travel) -> None:
    case = "case-unready"
    await travel.opened(case)
    r = await travel.post(
        f"/movements/{case}/documents",
        {"person_id": "p-mother", "document_type": "passport", "obtained_on": str(date.today())},
    )
    assert r.status_code == 200
    version = await travel.stream_version(case)

    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    missing = {(m["requirement"], m.get("person_id")) for m in problem["missing"]}
    assert missing == {
        ("travel_document", "p-daughter"),
        ("fitness_to_travel", "p-mother"),
        ("fitness_to_travel", "p-daughter"),
    }
    assert "p-daughter" in problem["detail"]
    assert await travel.stream_version(case) == version  # nothing half-written

    # An unfit traveller keeps the ticket refused too.
    await travel.make_ready(case, ["p-mother", "p-daughter"])
    r = await travel.post(
        f"/movements/{case}/fitness",
        {
            "person_id": "p-mother",
            "outcome": "unfit",
            "unfit_until": str(date.today() + timedelta(days=14)),
        },
        MEDIC,
    )
    assert r.status_code == 200, r.text
    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 422
    assert [m["requirement"] for m in r.json()["missing"]] == ["fitness_to_travel"]


async def test_child_without_escort_refused(travel: Travel) -> None:
    case = "case-uasc"
    await travel.opened(case, [member("p-boy", 15, unaccompanied_minor=True)])
    await travel.make_ready(case, ["p-boy"])

    r = await travel.post(f"/movements/{case}/ticket", ticket())
    assert r.status_code == 422
    assert r.json()["missing"] == [
        {
            "requirement": "escort",
            "detail": "an unaccompanied child travels only with an operational or medical escort",
            "person_id": "p-boy",
        }
    ]
    r = await travel.post(f"/movements/{case}/ticket", ticket(escorts=("operational",)))
    assert r.status_code == 200, r.text
    events = await travel.events(subject=case, wanted="avrr.travel.TicketIssued")
    assert events[-1].data["escorts"] == [{"kind": "operational"}]


async def test_fit_with_escort_needs_a_medical_escort(travel: Travel) -> None:
    case = "case-escort"
    await travel.opened(case, [member("p-elder", 78)])
    await travel.make_ready(case, ["p-elder"], outcome="fit_with_escort")
    r = await travel.post(f"/movements/{case}/ticket", ticket(escorts=("operational",)))
    assert r.status_code == 422
    assert [m["requirement"] for m in r.json()["missing"]] == ["medical_escort"]
    r = await travel.post(f"/movements/{case}/ticket", ticket(escorts=("medical",)))
    assert r.status_code == 200, r.text


async def test_no_show_then_rebooking(travel: Travel) -> None:
    case = "case-noshow"
    await travel.opened(case, [member("p-solo", 40)])
    await travel.make_ready(case, ["p-solo"])
    assert (await travel.post(f"/movements/{case}/ticket", ticket())).status_code == 200
    r = await travel.post(f"/movements/{case}/no-show", {"reason": "missed the flight"})
    assert r.status_code == 200 and r.json()["status"] == "no_show"
    assert (await travel.post(f"/movements/{case}/departure", {})).status_code == 422
    new_day = str(date.today() + timedelta(days=10))
    r = await travel.post(
        f"/movements/{case}/rebooking",
        {"reason": "no-show", "new_departure_date": new_day, "booking_reference": "AV-9ZZ1"},
    )
    assert r.status_code == 200 and r.json()["status"] == "ticketed"
    version = r.json()["version"]
    rebooked = await travel.events(subject=case, wanted="avrr.travel.MovementRebooked")
    assert rebooked[-1].data["new_departure_date"] == new_day
    shown = await travel.wait_for(case, version=version)
    assert shown["status"] == "ticketed"
    assert shown["booking"]["booking_reference"] == "AV-9ZZ1"
    assert shown["booking"]["departure_date"] == new_day
