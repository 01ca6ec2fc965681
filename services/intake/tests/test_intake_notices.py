"""Intake's notices in the person's language (issue 19): the rights notice and the consent texts.

Against real PostgreSQL and Kafka (the ``intake`` fixture). A consent records
the version of the text shown and its language; the person's consent reads
back in that version and language, as HTML or PDF, naming them only for the
case's readers, every rendering audited. Each notice is rendered in each
language to PDF and PNG (``avrr_events.notices.proofs``) and read back: the
PNGs of a run are in /tmp/notices/intake/ to look at.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from intake_fixtures import (
    PRINCIPAL_NAME,
    Intake,
    as_make_run_serves_it,
    consent,
    referral,
)

from avrr_events.notices import SUPPORTED
from avrr_events.notices.proofs import proof
from avrr_events.testing import eventually
from avrr_intake.consent import ConsentGiven
from avrr_intake.consent_texts import CURRENT_EDITION, current_texts, text_version
from avrr_intake.notices import consent_notice, consent_purpose_notice, rights_notice

PROOFS = Path(os.environ.get("AVRR_NOTICE_PROOFS", "/tmp/notices")) / "intake"
TRAVEL_OFFICER = {
    "X-AVRR-User": "travel-1",
    "X-AVRR-Roles": "travel_officer",
    "X-AVRR-Offices": "GT-GUA",
}
OTHER_OFFICE = {
    "X-AVRR-User": "caseworker-9",
    "X-AVRR-Roles": "caseworker",
    "X-AVRR-Offices": "HN-TGU",
}
# A word of each language's rights notice, to know it is the language asked for.
VOLUNTARY = {
    "en": "Your return is voluntary",
    "es": "Su retorno es voluntario",
    "pt": "O seu retorno é voluntário",
    "fr": "Votre retour est volontaire",
    "ht": "Retou w se volontè",
}


@pytest.mark.parametrize("language", SUPPORTED)
def test_every_notice_renders_in_every_language_to_pdf_and_png(language: str) -> None:
    consent_given = ConsentGiven(
        case_id="case-proof",
        person_id="p-1",
        purpose="share_with_authorities",
        given_on=date(2026, 12, 1),
        given_by="self",
        language=language,
        recorded_by="caseworker-1",
        recorded_at="2026-12-01T10:00:00Z",
        text_version=text_version("share_with_authorities"),
    )
    notices = {
        "rights": rights_notice(
            language, issued_on=date(2026, 12, 7), case_id="case-proof", name=PRINCIPAL_NAME
        ),
        "rights-blank": rights_notice(language, issued_on=date(2026, 12, 7)),
        **{
            f"consent-text-{text.purpose}": consent_purpose_notice(text, language)
            for text in current_texts()
        },
        "consent": consent_notice(
            current_texts()[2], consent_given, language, withdrawn=False, name=PRINCIPAL_NAME
        ),
    }
    for name, notice in notices.items():
        rendered = proof(notice, PROOFS, name=f"{name}-{language}")
        assert rendered.problems(notice) == [], name
    flat = " ".join(proof(notices["rights"], PROOFS, name=f"rights-{language}").text.split())
    assert VOLUNTARY[language] in flat
    assert PRINCIPAL_NAME in flat


async def _consented(intake: Intake, **extra: str) -> tuple[str, str]:
    created = await intake.open_case()
    case_id = created["case_id"]
    mother = intake.person(created, "principal")
    given = await intake.http.post(
        f"/cases/{case_id}/consents",
        json=consent(mother, "return_assistance_processing", "share_with_authorities", **extra),
    )
    assert given.status_code == 201, given.text
    await intake.wait_for(case_id, version=given.json()["version"])
    return case_id, mother


async def test_consent_records_the_text_version_and_reads_back_in_its_language(
    intake: Intake,
) -> None:
    case_id, mother = await _consented(intake, language="pt", text_version=CURRENT_EDITION)
    events = [r.envelope for r in await intake.runtime.store.load(f"case-{case_id}")]
    given = [e.data for e in events if e.type == "avrr.intake.ConsentGiven"]
    assert {(g["purpose"], g["text_version"], g["language"]) for g in given} == {
        ("return_assistance_processing", "return_assistance_processing@2026-12", "pt"),
        ("share_with_authorities", "share_with_authorities@2026-12", "pt"),
    }

    # Shown in Portuguese: read back in Portuguese, whatever the reader's language.
    page = await intake.http.get(
        f"/cases/{case_id}/notices/consents/{mother}/share_with_authorities",
        headers={"Accept": "text/html", "Accept-Language": "fr"},
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-language"] == "pt"
    assert '<html lang="pt">' in page.text
    assert "Partilha com as autoridades do seu país de origem" in page.text
    assert "share_with_authorities@2026-12" in page.text
    assert PRINCIPAL_NAME in page.text

    pdf = await intake.http.get(
        f"/cases/{case_id}/notices/consents/{mother}/share_with_authorities",
        headers={"Accept": "application/pdf"},
    )
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"

    # Each rendering is in the audit log with the case and the caller.
    entries = await intake.runtime.audit.entries(case_id=case_id, after=0, limit=100)
    renders = [e for e in entries if e.route.startswith("GET /cases/{case_id}/notices/consents/")]
    assert len(renders) == 2
    assert {e.actor for e in renders} == {"caseworker-1"}


async def test_consent_without_a_version_records_the_current_one(intake: Intake) -> None:
    case_id, _mother = await _consented(intake)
    events = [r.envelope for r in await intake.runtime.store.load(f"case-{case_id}")]
    versions = {e.data["text_version"] for e in events if e.type == "avrr.intake.ConsentGiven"}
    assert versions == {
        f"{purpose}@{CURRENT_EDITION}"
        for purpose in ("return_assistance_processing", "share_with_authorities")
    }


async def test_an_unknown_text_version_is_refused_naming_the_field(intake: Intake) -> None:
    created = await intake.open_case()
    mother = intake.person(created, "principal")
    refused = await intake.http.post(
        f"/cases/{created['case_id']}/consents",
        json=consent(mother, text_version="1999-01"),
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "text_version" in refused.text


async def test_rights_notice_in_the_persons_language_unless_asked(intake: Intake) -> None:
    created = await intake.open_case()  # languages ["es", "qu"]
    case_id = created["case_id"]
    spanish = await intake.http.get(
        f"/cases/{case_id}/notices/rights", headers={"Accept-Language": "en"}
    )
    assert spanish.status_code == 200, spanish.text
    assert spanish.headers["content-language"] == "es"
    assert VOLUNTARY["es"] in spanish.text
    assert PRINCIPAL_NAME in spanish.text
    portuguese = await intake.http.get(
        f"/cases/{case_id}/notices/rights", params={"language": "pt"}
    )
    assert portuguese.headers["content-language"] == "pt"
    assert VOLUNTARY["pt"] in portuguese.text
    assert "anónima" in portuguese.text  # how to complain: anonymously too


async def test_case_notices_are_for_the_case_readers_only(intake: Intake) -> None:
    case_id, mother = await _consented(intake)
    for path in (
        f"/cases/{case_id}/notices/rights",
        f"/cases/{case_id}/notices/consents/{mother}/return_assistance_processing",
    ):
        for who in (TRAVEL_OFFICER, OTHER_OFFICE):
            refused = await intake.http.get(path, headers=who)
            assert refused.status_code == 403, (path, who)
            assert PRINCIPAL_NAME not in refused.text
    missing = await intake.http.get(
        f"/cases/{case_id}/notices/consents/{mother}/medical_data_processing"
    )
    assert missing.status_code == 404


async def test_blank_notices_name_nobody_and_follow_accept_language(intake: Intake) -> None:
    blank = await intake.http.get(
        "/notices/rights",
        headers={**TRAVEL_OFFICER, "Accept-Language": "pt-BR,pt;q=0.9", "Accept": "text/html"},
    )
    assert blank.status_code == 200, blank.text
    assert blank.headers["content-language"] == "pt"
    text = await intake.http.get(
        "/notices/consent-purposes/contact_by_programme",
        params={"version": CURRENT_EDITION},
        headers={"Accept-Language": "ht", "Accept": "application/pdf"},
    )
    assert text.status_code == 200
    assert text.headers["content-language"] == "ht"
    unknown = await intake.http.get(
        "/notices/consent-purposes/contact_by_programme", params={"version": "2001-01"}
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    refused = await intake.http.get("/notices/rights", headers={"Accept": "application/json"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_refusals_reason_reads_in_the_readers_language(intake: Intake) -> None:
    """Accept-Language words a refusal's detail for a person; its codes stay as they are."""
    created = await intake.open_case()
    path = f"/cases/{created['case_id']}/return-request"
    body = {"destination_country": "BO"}
    english = await intake.http.post(path, json=body)
    assert english.status_code == 422
    assert english.json()["detail"].startswith("missing consent: return_assistance_processing")
    assert english.headers["content-language"] == "en"
    portuguese = await intake.http.post(path, json=body, headers={"Accept-Language": "pt-BR"})
    assert portuguese.status_code == 422
    assert portuguese.headers["content-language"] == "pt"
    problem = portuguese.json()
    assert problem["detail"].startswith("falta o consentimento: return_assistance_processing")
    assert problem["missing_consents"] == ["return_assistance_processing"]


async def test_the_embedded_default_gives_a_persons_consent_as_a_pdf_in_portuguese(
    tmp_path: Path,
) -> None:
    """As ``make run`` serves it (SQLite, in-process bus): consent in Portuguese, read back."""
    async with as_make_run_serves_it(tmp_path) as http:
        created = await http.post("/intake/referrals", json=referral(languages=["pt"]))
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        mother = next(
            p["person_id"] for p in created.json()["household"] if p["relationship"] == "principal"
        )

        async def readable() -> bool:
            return (await http.get(f"/intake/cases/{case_id}")).status_code == 200

        await eventually(readable, timeout=10)
        given = await http.post(
            f"/intake/cases/{case_id}/consents", json=consent(mother, language="pt")
        )
        assert given.status_code == 201, given.text
        rights = await http.get(
            f"/intake/cases/{case_id}/notices/rights", headers={"Accept": "application/pdf"}
        )
        assert rights.status_code == 200, rights.text
        assert rights.headers["content-language"] == "pt"
        assert rights.content.startswith(b"%PDF")
        text = await http.get(
            f"/intake/cases/{case_id}/notices/consents/{mother}/return_assistance_processing"
        )
        assert text.status_code == 200, text.text
        assert "Tratamento do seu pedido de retorno" in text.text
