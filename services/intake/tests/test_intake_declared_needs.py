"""Declared needs are health data: stored only after the person GAVE consent to medical data
processing, read by the medical role only, and sealed under the person's health key for their
case and field. Bearer JWTs, real PostgreSQL and Kafka."""

from __future__ import annotations

import pytest
from intake_fixtures import Intake, consent, referral
from intake_tokens import bearer

from avrr_events import Encrypted
from avrr_events.testing import database_dump

CASEWORKER = bearer("cw-gt", "caseworker", "GT-GUA")
DOCTOR = bearer("doctor-gt", "medical", "GT-GUA")
NEEDS = ["insulin-dependent diabetes", "wheelchair at the airport"]


async def test_needs_wait_for_a_given_medical_consent_and_only_the_medical_role_reads_them(
    intake: Intake, database_url: str
) -> None:
    # A referral comes before any consent: it cannot carry them (422 naming the field).
    refused = await intake.refer(referral(declared_needs=NEEDS), **CASEWORKER)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["declared_needs"]
    assert "insulin" not in await database_dump(database_url)

    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    path = f"/cases/{case_id}/declared-needs"
    declaration = {"person_id": mother, "declared_needs": NEEDS}

    # No consent given (none withdrawn either): refused, naming the field.
    response = await intake.http.post(path, json=declaration, headers=CASEWORKER)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "declared_needs"
    # Another purpose is not the medical one.
    given = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(mother), headers=CASEWORKER
    )
    assert given.status_code == 201, given.text
    response = await intake.http.post(path, json=declaration, headers=CASEWORKER)
    assert response.status_code == 422, response.text

    given = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "medical_data_processing"),
        headers=CASEWORKER,
    )
    assert given.status_code == 201, given.text
    response = await intake.http.post(path, json=declaration, headers=CASEWORKER)
    assert response.status_code == 201, response.text
    await intake.wait_for(case_id, version=response.json()["version"])

    # The case file (any case reader) holds none of it; only the medical role reads it.
    case = await intake.http.get(f"/cases/{case_id}", headers=CASEWORKER)
    assert case.status_code == 200 and "insulin" not in case.text
    assert "declared_needs" not in case.json()
    assert (await intake.http.get(path, headers=CASEWORKER)).status_code == 403
    read = await intake.http.get(path, headers=DOCTOR)
    assert read.status_code == 200, read.text
    [entry] = read.json()["declarations"]
    assert (entry["person_id"], entry["declared_needs"]) == (mother, NEEDS)

    # At rest: under her health key, bound to this case and field; no plaintext anywhere.
    assert "insulin" not in await database_dump(database_url)
    [data] = [
        r.envelope.data
        for r in await intake.runtime.store.load(f"case-{case_id}")
        if r.envelope.type == "avrr.intake.NeedsDeclared"
    ]
    sealed = Encrypted.model_validate(data["declared_needs"])
    assert sealed.alg == "A256GCM-health-v1" and sealed.subject == mother
    cipher = intake.runtime.cipher
    with pytest.raises(ValueError):  # copied into another field of the case
        await cipher.decrypt_for_purpose(sealed, case_id=case_id, field="notes")
    with pytest.raises(ValueError):  # or into another case
        await cipher.decrypt_for_purpose(
            sealed, case_id=created["case_id"] + "x", field="declared_needs"
        )

    # Withdrawn: no longer shown (not even decrypted), and no new declaration.
    withdrawn = await intake.http.post(
        f"/cases/{case_id}/consents/medical_data_processing/withdrawal",
        json={"person_id": mother, "reason": "changed_mind"},
        headers=CASEWORKER,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await intake.wait_for(case_id, version=withdrawn.json()["version"])
    read = await intake.http.get(path, headers=DOCTOR)
    assert read.json()["declarations"][0]["declared_needs"] == "consent_withdrawn"
    response = await intake.http.post(path, json=declaration, headers=CASEWORKER)
    assert response.status_code == 422, response.text


async def _medical_consent(intake: Intake, case_id: str, person_id: str) -> None:
    """``person_id`` consents to medical data processing, and the read model has it."""
    given = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(person_id, "medical_data_processing"),
        headers=CASEWORKER,
    )
    assert given.status_code == 201, given.text
    await intake.wait_for(case_id, version=given.json()["version"])


async def test_a_withdrawn_medical_consent_hides_the_needs_from_its_answer_on(
    intake: Intake,
) -> None:
    """Read at once after the withdrawal's 200, before the read model may have seen it."""
    created = await intake.open_case()
    case_id, mother = created["case_id"], intake.person(created, "principal")
    await _medical_consent(intake, case_id, mother)
    needs = f"/cases/{case_id}/declared-needs"
    declaration = {"person_id": mother, "declared_needs": NEEDS}
    declared = await intake.http.post(needs, json=declaration, headers=CASEWORKER)
    assert declared.status_code == 201, declared.text
    await intake.wait_for(case_id, version=declared.json()["version"])
    for _ in range(3):
        withdrawn = await intake.http.post(
            f"/cases/{case_id}/consents/medical_data_processing/withdrawal",
            json={"person_id": mother, "reason": "changed_mind"},
            headers=CASEWORKER,
        )
        assert withdrawn.status_code == 200, withdrawn.text
        read = await intake.http.get(needs, headers=DOCTOR)
        assert read.status_code == 200, read.text
        assert "insulin" not in read.text
        assert read.json()["declarations"][0]["declared_needs"] == "consent_withdrawn"
        # Given again (once the read model has the withdrawal), to withdraw it again.
        await intake.wait_for(case_id, version=withdrawn.json()["version"])
        await _medical_consent(intake, case_id, mother)
