"""A suspension covers its region however the region and the suspension were spelled.

Eligibility keys places by avrr_events.places (the ISO 3166-2 code where one
names the region), like travel; a suspension recorded before, in a stream
named by the older rule, still blocks clearances and is the one reopened.
"""

from __future__ import annotations

from datetime import UTC, datetime

from eligibility_fixtures import SUPERVISOR, Eligibility, checklist_json, return_requested

from avrr_eligibility.destination import DestinationSafety
from avrr_eligibility.events import SOURCE, registry
from avrr_events import Cause, Repository


async def clear(eligibility: Eligibility, case_id: str) -> None:
    await eligibility.assessment(case_id)
    r = await eligibility.http.post(f"/assessments/{case_id}/due-diligence", json=checklist_json())
    assert r.json()["events"][-1] == "avrr.eligibility.DueDiligenceCleared", r.text


async def test_every_spelling_of_a_suspended_region_is_held(eligibility: Eligibility) -> None:
    http = eligibility.http
    regions = {
        "at-plain": "atlantida",
        "at-code": "HN-AT",
        "at-waiting": " ATLÁNTIDA ",
        "cortes": "Cortés",
    }
    for case_id, region in regions.items():
        await eligibility.from_intake("ReturnRequested", return_requested(case_id, region=region))
    for case_id in ("at-plain", "at-code", "cortes"):
        await clear(eligibility, case_id)

    suspension = {
        "destination_country": "HN",
        "destination_region": "Atlántida",
        "reason": "flooding closed the roads",
    }
    r = await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    assert r.status_code == 201, r.text
    # A region code of another country is no region of Honduras: refused, naming the field.
    wrong = {**suspension, "destination_region": "SV-UN"}
    r = await http.post("/destinations/suspensions", json=wrong, headers=SUPERVISOR)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "destination_region" in r.text and "region of SV, not of HN" in r.text, r.text
    # The same place spelled otherwise is already suspended.
    again = {**suspension, "destination_region": "at"}
    r = await http.post("/destinations/suspensions", json=again, headers=SUPERVISOR)
    assert r.status_code == 409, r.text

    for case_id in ("at-plain", "at-code"):
        await eligibility.assessment(case_id, destination_suspended=True)
    assert (await eligibility.assessment("cortes"))["destination_suspended"] is False
    [listed] = (await http.get("/destinations/suspensions")).json()["items"]
    assert listed["destination_region"] == "Atlántida"
    assert listed["destination_region_code"] == "HN-AT"
    assert listed["cleared_cases_held"] == 2
    refused = await http.post("/assessments/at-waiting/due-diligence", json=checklist_json())
    assert refused.json()["events"][-1] == "avrr.eligibility.DueDiligenceRejected"

    reopening = {"destination_country": "HN", "destination_region": "hn-at", "reason": "roads open"}
    r = await http.post("/destinations/reopenings", json=reopening, headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    for case_id in ("at-plain", "at-code"):
        await eligibility.assessment(case_id, destination_suspended=False)
    await clear(eligibility, "at-waiting")


async def test_a_suspension_recorded_under_the_older_name_still_counts_and_is_reopened(
    eligibility: Eligibility,
) -> None:
    """Before place keys, "Atlántida" was the stream ``HN/atlantida``."""
    http = eligibility.http
    older = DestinationSafety("HN/atlantida")
    older.suspend("HN", "Atlántida", "flooding", "supervisor-0", datetime.now(UTC))
    repo = Repository(eligibility.runtime.store, registry, DestinationSafety, source=SOURCE)
    await repo.save(older, Cause.new(older.subject))

    await eligibility.from_intake("ReturnRequested", return_requested("old-1", region="HN-AT"))
    await eligibility.assessment("old-1")
    refused = await http.post("/assessments/old-1/due-diligence", json=checklist_json())
    assert refused.json()["events"][-1] == "avrr.eligibility.DueDiligenceRejected", refused.text

    suspension = {"destination_country": "HN", "destination_region": "AT", "reason": "floods!"}
    r = await http.post("/destinations/suspensions", json=suspension, headers=SUPERVISOR)
    assert r.status_code == 409, r.text
    reopening = {"destination_country": "HN", "destination_region": "HN-AT", "reason": "dry now"}
    r = await http.post("/destinations/reopenings", json=reopening, headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "HN/atlantida"
    await clear(eligibility, "old-1")
