"""Issue 19: the reintegration plan summary in the returnee's language.

Every notice in each language is rendered to PDF and PNG (avrr_events.notices.proofs,
pictures in /tmp/notices/reintegration) and read back: the plan's assistance in words
with its budget, the monitoring visits' dates, the organisations and the receiving
office. The route gives the activities (personal) to the plan's readers only, audited.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from reintegration_fixtures import MANAGER, OFFICER, RunningReintegration, plan

from avrr_events.notices import SUPPORTED
from avrr_events.notices.proofs import proof
from avrr_events.offices import load_offices
from avrr_events.personal import ERASED_MARKER
from avrr_events.testing import a_notice_as_pdf, a_notice_kept_from
from avrr_reintegration.directory import load_directory
from avrr_reintegration.notices import PlanFacts, plan_summary

PICTURES = Path("/tmp/notices/reintegration")
# The heading of the assistance and of the visits in each language: the notice is in it.
WORDS = {
    "en": ("Assistance in your plan", "Monitoring visits", "Economic support"),
    "es": ("Asistencia de su plan", "Visitas de seguimiento", "Apoyo económico"),
    "pt": ("Apoios do seu plano", "Visitas de acompanhamento", "Apoio económico"),
    "fr": ("Aide prévue dans votre plan", "Visites de suivi", "Soutien économique"),
    "ht": ("Èd ki nan plan ou an", "Vizit swivi", "Sipò ekonomik"),
}


def _facts(**case: Any) -> PlanFacts:
    view: dict[str, Any] = {
        "case_id": "case-plan",
        "programme_id": "arvore",
        "decision": "granted",
        "arrived_on": date(2026, 3, 15),
        "destination_country": "BR",
        "destination_region": "MG",
        "plan": [c.model_dump(mode="json") for c in plan()],
        "plan_total": Decimal("550.00"),
        "plan_currency": "USD",
        "plan_agreed_at": datetime(2026, 3, 25, 10, 0),
        **case,
    }
    visits = [
        {"due_month": 1, "due_on": date(2026, 4, 15), "visited_on": date(2026, 4, 14)},
        {"due_month": 3, "due_on": date(2026, 6, 15), "visited_on": None},
        {"due_month": 6, "due_on": date(2026, 9, 15), "visited_on": None},
    ]
    organisation = load_directory().organisation("br-mg-psychosocial-centre")
    assert organisation is not None
    return PlanFacts(view, visits, [organisation], load_offices().get("BR-BSB"))


@pytest.mark.parametrize("language", SUPPORTED)
def test_the_plan_summary_renders_in_each_language(language: str) -> None:
    for name, facts in {"plan": _facts(), "no-plan": _facts(plan=None, plan_total=None)}.items():
        notice = plan_summary(facts, language)
        rendered = proof(notice, PICTURES, name=f"{name}-{language}")
        assert rendered.problems(notice) == []
        text = " ".join(rendered.text.split())
        assistance, visits, economic = WORDS[language]
        assert assistance in text and visits in text
        assert "IOM Brasília" in text
        if name == "plan":
            assert economic in text and "sewing workshop" in text
            assert "550" in text  # the total, in the language's money format


def test_an_erased_activity_is_not_shown() -> None:
    facts = _facts(plan=[{**plan()[0].model_dump(mode="json"), "activity": ERASED_MARKER}])
    rows = plan_summary(facts, "es").sections[0].rows
    assert rows[0][1].startswith("(ya no registrado)")


# ------------------------------------------------------------------ the API --


async def test_the_plan_notice_is_given_to_the_plans_readers_audited(
    reintegration: RunningReintegration,
) -> None:
    r = reintegration
    await r.arrive("notice-1")
    await r.agree_plan("notice-1", plan())
    await r.wait_for("notice-1", plan_currency="USD")
    path = "/cases/notice-1/notices/plan"

    for reader in (OFFICER, MANAGER):
        html = await r.http.get(path, headers={**reader, "Accept-Language": "pt-BR,pt;q=0.9"})
        assert html.status_code == 200, html.text
        assert html.headers["content-language"] == "pt"
        assert '<html lang="pt">' in html.text
        assert "O seu plano de reintegração" in html.text
        assert "Os seus direitos" in html.text and "A assistência é gratuita." in html.text
        assert "micro-business: sewing workshop" in html.text
    await a_notice_as_pdf(r.http, path, "fr", OFFICER)
    outsiders = [
        {"X-AVRR-Roles": "reintegration_officer", "X-AVRR-Offices": "HN-SPS"},
        {"X-AVRR-Roles": "travel_officer", "X-AVRR-Offices": "BR-BSB"},
        {"X-AVRR-Roles": "medical", "X-AVRR-Offices": "BR-BSB"},
    ]
    await a_notice_kept_from(r.http, path, outsiders, "sewing")

    entries = await r.runtime.audit.entries(case_id="notice-1")
    reads = [e for e in entries if e.route == "GET /cases/{case_id}/notices/plan"]
    assert {e.actor for e in reads} >= {"officer-1", "caseworker-1", "other"}
    assert {e.outcome for e in reads} >= {200, 403}
    assert (await r.http.get("/cases/nobody/notices/plan", headers=OFFICER)).status_code == 404


async def test_the_plan_notice_is_in_the_returnees_recorded_language(
    reintegration: RunningReintegration,
) -> None:
    """Travel's arrival carries the household's languages (as intake recorded them): the case
    opened from it keeps them, and the summary is in the first one a catalog has, without
    ?language or Accept-Language, and whatever the reader's own; ?language still chooses."""
    r = reintegration
    await r.arrive("notice-pt", languages=["mam", "pt"])  # Mam: no catalog, skipped
    await r.arrive("notice-none")  # an arrival from before travel sent the languages
    for case in ("notice-pt", "notice-none"):
        await r.agree_plan(case, plan())
        await r.wait_for(case, plan_currency="USD")

    path = "/cases/notice-pt/notices/plan"
    for headers in (OFFICER, {**OFFICER, "Accept-Language": "en"}):
        html = await r.http.get(path, headers=headers)
        assert html.status_code == 200, html.text
        assert html.headers["content-language"] == "pt"
        assert "O seu plano de reintegração" in html.text
    asked = await r.http.get(path, params={"language": "es"}, headers=OFFICER)
    assert asked.headers["content-language"] == "es"

    older = await r.http.get("/cases/notice-none/notices/plan", headers=OFFICER)
    assert older.status_code == 200 and older.headers["content-language"] == "en"
