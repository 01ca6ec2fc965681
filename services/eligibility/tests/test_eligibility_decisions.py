"""ReturnRequested -> assessment + EligibilityDecided with reasons; the queue; the programmes."""

from __future__ import annotations

from eligibility_fixtures import SUPERVISOR, Eligibility, adult, household_json, return_requested


async def test_programmes_are_served_with_their_version(eligibility: Eligibility) -> None:
    response = await eligibility.http.get("/programmes")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "2026.1"
    assert [p["id"] for p in body["programmes"]] == [
        "mesoamerica-avr",
        "arvore",
        "americas-regional-avr",
    ]
    arvore = (await eligibility.http.get("/programmes/arvore")).json()
    assert arvore["limits"]["reintegration"]["places"] == 150
    assert arvore["eligible_nationalities"] == {"rule": "non_eu"}
    missing = await eligibility.http.get("/programmes/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_each_seed_programme_decides_eligible_and_ineligible_requests_with_reasons(
    eligibility: Eligibility,
) -> None:
    requests = {
        "meso-yes": return_requested("meso-yes", nationality="HN", host="MX"),
        "meso-no": return_requested(
            "meso-no", nationality="NI", host="MX", programme_hint="mesoamerica-avr"
        ),
        "arvore-yes": return_requested("arvore-yes", nationality="BR", host="PT", office="PT-LIS"),
        "arvore-no": return_requested("arvore-no", nationality="ES", host="PT", office="PT-LIS"),
        "regional-yes": return_requested(
            "regional-yes", nationality="CO", host="PA", office="PA-PTY"
        ),
        "regional-no": return_requested(
            "regional-no", nationality="CO", host="PA", destination="PA", office="PA-PTY"
        ),
    }
    for data in requests.values():
        await eligibility.from_intake("ReturnRequested", data)

    expected = {
        "meso-yes": (True, "mesoamerica-avr", None),
        "meso-no": (
            False,
            "mesoamerica-avr",
            "Mesoamerica AVR is only for nationals of El Salvador, Guatemala or Honduras, "
            "and the person is a national of Nicaragua.",
            "Mesoamerica AVR only returns people to El Salvador, Guatemala or Honduras, "
            "and the requested destination is Nicaragua.",
        ),
        "arvore-yes": (True, "arvore", None),
        "arvore-no": (
            False,
            "arvore",
            "ARVoRe is only for nationals of countries outside the European Union, "
            "and Spain is an EU member state.",
        ),
        "regional-yes": (True, "americas-regional-avr", None),
        "regional-no": (
            False,
            "americas-regional-avr",
            "The destination, Panama, is the country the person is already in.",
        ),
    }
    for case_id, (eligible, programme, *why) in expected.items():
        doc = await eligibility.assessment(case_id)
        decision = (await eligibility.http.get(f"/assessments/{case_id}/decision")).json()
        assert decision["eligible"] is eligible, case_id
        assert decision["programme_id"] == programme, case_id
        assert decision["programmes_version"] == "2026.1"
        failures = [r["detail"] for r in decision["reasons"] if not r["passed"]]
        assert failures == [w for w in why if w is not None], case_id
        assert doc["status"] == ("eligible" if eligible else "ineligible")

    # The decisions went out on eligibility's topic, keyed by case, with their reasons.
    events = await eligibility.published(12)
    decided = {e.subject: e.data for e in events if e.type.endswith(".EligibilityDecided")}
    assert set(decided) == set(requests)
    assert decided["arvore-yes"]["eligible"] is True
    assert any(
        r["rule"] == "arvore/nationality" and not r["passed"]
        for r in decided["arvore-no"]["reasons"]
    )


async def test_office_queue_puts_the_most_vulnerable_first_with_age(
    eligibility: Eligibility,
) -> None:
    await eligibility.from_intake("ReturnRequested", return_requested("q-old"))
    await eligibility.from_intake(
        "ReturnRequested",
        return_requested("q-elderly", household=household_json(adult("e1", age_years=78))),
    )
    await eligibility.from_intake(
        "ReturnRequested", return_requested("q-elsewhere", office="GT-GUA", host="GT")
    )
    await eligibility.assessment("q-elderly")
    await eligibility.assessment("q-elsewhere")
    screened = await eligibility.http.post(
        "/assessments/q-elderly/vulnerability-screenings",
        json={
            "person_id": "e1",
            "categories": [
                {"category": "elderly", "severity": "medium"},
                {"category": "health_needs", "severity": "high"},
            ],
        },
    )
    assert screened.status_code == 201, screened.text
    assert screened.json()["events"] == ["avrr.eligibility.VulnerabilityAssessed"]
    await eligibility.assessment("q-elderly", vulnerability_priority=3)

    queue = (await eligibility.http.get("/assessments", params={"office": "MX-TAP"})).json()
    assert [i["case_id"] for i in queue["items"]] == ["q-elderly", "q-old"]
    assert queue["total"] == 2
    assert all(i["age_days"] >= 0 for i in queue["items"])
    assert queue["items"][0]["vulnerability_priority"] == 3

    # Another office's queue is not a Mexican caseworker's business; headquarters sees all.
    other = await eligibility.http.get(
        "/assessments", params={"office": "CR-SJO"}, headers={"X-AVRR-Offices": "MX-TAP"}
    )
    assert other.status_code == 403
    seen = await eligibility.http.get(
        "/assessments", params={"office": "GT-GUA"}, headers=SUPERVISOR
    )
    assert [i["case_id"] for i in seen.json()["items"]] == ["q-elsewhere"]
