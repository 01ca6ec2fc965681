"""Issue 19: the eligibility decision in the person's language, as a notice and in the API.

Every notice in each language is rendered to PDF and PNG (avrr_events.notices.proofs,
pictures in /tmp/notices/eligibility) and read back: the title, headings and the
translated reasons are in the PDF's text, the page is not blank, nothing is cut off.
The route answers HTML or PDF in the person's language, to the case's office only,
audited; the decision's JSON keeps its rule codes and words its reasons by
Accept-Language.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eligibility_fixtures import (
    CATALOGUE,
    NOW,
    Eligibility,
    adult,
    full_checklist,
    household_json,
    opened_assessment,
    return_requested,
)

from avrr_eligibility.assessment import Assessment, AssessmentOpened, Suspension
from avrr_eligibility.notices import decision_notice, decision_reasons
from avrr_eligibility.programmes import decide
from avrr_events.notices import SUPPORTED
from avrr_events.notices.proofs import proof
from avrr_events.testing import a_notice_as_pdf, a_notice_kept_from

PICTURES = Path("/tmp/notices/eligibility")
# The outcome's word in each language: the notice is in it, not in English.
ELIGIBLE = {
    "en": "Eligible",
    "es": "Elegible",
    "pt": "Elegível",
    "fr": "Éligible",
    "ht": "Kalifye",
}
NOT_ELIGIBLE = {
    "en": "Not eligible",
    "es": "No elegible",
    "pt": "Não elegível",
    "fr": "Non éligible",
    "ht": "Pa kalifye",
}


def _ineligible() -> Assessment:
    """Nicaragua is not a Mesoamerica destination: two rules fail, with countries in them."""
    opened = AssessmentOpened(
        case_id="case-ni",
        office="MX-TAP",
        nationality="NI",
        host_country="MX",
        destination_country="NI",
        programme_hint="mesoamerica-avr",
        household=[adult()],
        requested_at=NOW,
        opened_at=NOW,
    )
    assessment = Assessment("case-ni")
    assessment.open(opened, decide(CATALOGUE, opened.return_request), CATALOGUE.version)
    return assessment


@pytest.mark.parametrize("language", SUPPORTED)
def test_each_decision_notice_renders_in_each_language(language: str) -> None:
    rejected = opened_assessment("case-hn", nationality="HN", host="MX")
    gaps = rejected.check_due_diligence(
        full_checklist(identity_verified=False), CATALOGUE, [], "caseworker-1", NOW
    )
    cases = {
        "eligible-rejected": (rejected, gaps, ELIGIBLE[language]),
        "ineligible": (_ineligible(), [], NOT_ELIGIBLE[language]),
    }
    for name, (assessment, due_diligence, outcome) in cases.items():
        notice = decision_notice(assessment, CATALOGUE, language, due_diligence)
        assert notice.language == language
        rendered = proof(notice, PICTURES, name=f"{name}-{language}")
        assert rendered.problems(notice) == []
        text = " ".join(rendered.text.split())
        assert outcome in text
        for reason in decision_reasons(assessment, CATALOGUE, language):
            assert " ".join(reason.detail.split()) in text


def test_reasons_are_worded_in_the_language_with_the_recorded_codes() -> None:
    assessment = _ineligible()
    english = decision_reasons(assessment, CATALOGUE, "en")
    assert english == assessment.decision.reasons  # type: ignore[union-attr]
    for language in ("es", "pt", "fr"):
        worded = decision_reasons(assessment, CATALOGUE, language)
        assert [(r.rule, r.passed) for r in worded] == [(r.rule, r.passed) for r in english]
        assert all(w.detail != e.detail for w, e in zip(worded, english, strict=True))
    spanish = [r.detail for r in decision_reasons(assessment, CATALOGUE, "es")]
    assert any("Nicaragua" in d and "es solo para personas nacionales" in d for d in spanish)
    french = " ".join(r.detail for r in decision_reasons(assessment, CATALOGUE, "fr"))
    assert "Salvador" in french and "ressortissants" in french


def test_a_reason_todays_rules_would_word_otherwise_is_kept_as_recorded() -> None:
    """Another programme file decided it: the notice never says what the decision did not."""
    assessment = _ineligible()
    recorded = assessment.decision.model_copy(update={"programmes_version": "2025.9"})  # type: ignore[union-attr]
    assessment.decision = recorded
    worded = decision_reasons(assessment, CATALOGUE, "pt")
    assert [r.detail for r in worded] == [r.detail for r in recorded.reasons]


def test_due_diligence_reasons_with_facts_are_worded_with_the_same_facts() -> None:
    child = adult("c1", age_years=15, unaccompanied_minor=True)
    assessment = opened_assessment("case-child", household=[child])
    gaps = assessment.check_due_diligence(
        full_checklist(family_or_receiving_contact_reached=True), CATALOGUE, [], "cw", NOW
    )
    assert any("c1" in gap for gap in gaps)
    notice = decision_notice(assessment, CATALOGUE, "pt", gaps)
    steps = " ".join(notice.sections[1].paragraphs)
    assert "criança não acompanhada ou separada c1" in steps


# ------------------------------------------------------------------ the API --


async def test_the_notice_route_answers_html_or_pdf_in_the_language_audited(
    eligibility: Eligibility,
) -> None:
    await eligibility.from_intake(
        "ReturnRequested",
        return_requested("notice-1", household=household_json(adult())),
    )
    await eligibility.assessment("notice-1")
    path = "/assessments/notice-1/notices/decision"

    html = await eligibility.http.get(
        path, headers={"Accept": "text/html", "Accept-Language": "pt-BR,en;q=0.5"}
    )
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-language"] == "pt"
    assert '<html lang="pt">' in html.text
    assert "Decisão sobre o seu pedido" in html.text

    await a_notice_as_pdf(eligibility.http, path, "fr", {})

    refused = await eligibility.http.get(path, headers={"Accept": "application/json"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"

    unknown = await eligibility.http.get(path, params={"language": "xx"})
    assert unknown.status_code == 422
    assert "language" in unknown.text

    # The person's recorded languages come first (the first a catalog has: not Quechua).
    await eligibility.from_intake(
        "ReturnRequested", return_requested("notice-4", languages=["qu", "fr", "es"])
    )
    await eligibility.assessment("notice-4")
    theirs = await eligibility.http.get(
        "/assessments/notice-4/notices/decision", headers={"Accept-Language": "pt"}
    )
    assert theirs.headers["content-language"] == "fr", theirs.text

    outsiders = [
        {"X-AVRR-Roles": "caseworker", "X-AVRR-Offices": "HN-TGU"},
        {"X-AVRR-Roles": "supervisor", "X-AVRR-Offices": "SV-SAL"},
        {"X-AVRR-Roles": "travel_officer", "X-AVRR-Offices": "MX-TAP"},
    ]
    await a_notice_kept_from(eligibility.http, path, outsiders, "Decis", refused=(403, 404))

    entries = await eligibility.runtime.audit.entries(case_id="notice-1")
    reads = [e for e in entries if e.route == "GET /assessments/{case_id}/notices/decision"]
    assert {e.actor for e in reads} >= {"caseworker-1", "other"}
    assert {e.outcome for e in reads} >= {200, 403}


async def test_the_decision_words_its_reasons_by_accept_language(eligibility: Eligibility) -> None:
    await eligibility.from_intake(
        "ReturnRequested",
        return_requested("notice-2", nationality="NI", programme_hint="mesoamerica-avr"),
    )
    await eligibility.assessment("notice-2")
    english = await eligibility.http.get("/assessments/notice-2/decision")
    assert english.headers["content-language"] == "en"
    spanish = await eligibility.http.get(
        "/assessments/notice-2/decision", headers={"Accept-Language": "es-419,es;q=0.9"}
    )
    assert spanish.status_code == 200
    assert spanish.headers["content-language"] == "es"
    recorded, worded = english.json()["reasons"], spanish.json()["reasons"]
    assert [(r["rule"], r["passed"]) for r in worded] == [
        (r["rule"], r["passed"]) for r in recorded
    ]
    assert any("es solo para personas nacionales de" in r["detail"] for r in worded)
    assert not any(
        r["detail"] in {e["detail"] for e in recorded} for r in worded if not r["passed"]
    )
    whole = await eligibility.http.get(
        "/assessments/notice-2", headers={"Accept-Language": "pt-BR"}
    )
    assert whole.headers["content-language"] == "pt"
    assert any("destina-se" in r["detail"] for r in whole.json()["decision"]["reasons"])


async def test_a_refusal_is_worded_in_the_readers_language(eligibility: Eligibility) -> None:
    await eligibility.from_intake("ReturnRequested", return_requested("notice-3"))
    await eligibility.assessment("notice-3")
    body = {"person_id": "nobody", "categories": []}
    path = "/assessments/notice-3/vulnerability-screenings"
    english = await eligibility.http.post(path, json=body)
    assert english.status_code == 422
    assert english.json()["detail"] == "person nobody is not in the household of case notice-3"
    spanish = await eligibility.http.post(path, json=body, headers={"Accept-Language": "es"})
    assert spanish.status_code == 422
    assert spanish.headers["content-language"] == "es"
    assert (
        spanish.json()["detail"] == "la persona nobody no forma parte del hogar del caso notice-3"
    )


def test_every_due_diligence_reason_is_worded_in_each_language() -> None:
    """Each reason the aggregate can record is a catalog message or one's pattern: none stays
    English in a notice (a reason written without reasons.py would)."""
    child = adult("c1", age_years=15, unaccompanied_minor=True)
    assessment = opened_assessment("case-all", household=[child])
    assessment.record_best_interests("c1", "return_not_in_best_interests", "cw", NOW)
    unchecked = {name: False for name in full_checklist().model_dump()}
    hurricane = Suspension("HN", None, "hurricane", NOW)
    gaps = assessment.check_due_diligence(
        full_checklist(**unchecked), CATALOGUE, [hurricane], "cw", NOW
    )
    assert len(gaps) == 8
    for language in ("es", "pt", "fr"):
        worded = decision_notice(assessment, CATALOGUE, language, gaps).sections[1].paragraphs
        assert not set(f"- {gap}" for gap in gaps) & set(worded), language
