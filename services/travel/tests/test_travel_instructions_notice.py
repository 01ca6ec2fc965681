"""Issue 19: travel instructions in the household's language, and the meeting point.

Every notice in each language is rendered to PDF and PNG (avrr_events.notices.proofs,
pictures in /tmp/notices/travel) and read back. The travel officer records where and
when the household meets the escort with the ticket (``meeting_point``, ``meeting_time``,
optional: older tickets have none), the route serves the instructions as HTML or PDF to
the movement's readers of its office, audited.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from travel_fixtures import (
    CASEWORKER,
    NOW,
    OFFICER,
    TODAY,
    Travel,
    booking,
    family,
    opened,
    ready,
    ticket,
)

from avrr_events.notices import SUPPORTED
from avrr_events.notices.proofs import proof
from avrr_events.testing import a_notice_as_pdf, a_notice_kept_from
from avrr_travel.movement import Movement
from avrr_travel.notices import travel_instructions

PICTURES = Path("/tmp/notices/travel")
MEETING = "Terminal de buses del Norte, puerta 3"
# "Meeting point" and "passport" in each language: the notice is in it.
WORDS = {
    "en": ("Meeting point", "passport"),
    "es": ("Punto de encuentro", "pasaporte"),
    "pt": ("Ponto de encontro", "passaporte"),
    "fr": ("Point de rendez-vous", "passeport"),
    "ht": ("Pwen randevou", "paspò"),
}


def _ticketed() -> Movement:
    """Ticketed with an escort and a meeting time (the place is given decrypted, as the
    route gives it)."""
    movement = ready(opened("case-notice"))
    movement.issue_ticket(
        booking(escorts=("operational",), meeting_time=time(5, 30)),
        TODAY,
        NOW,
    )
    return movement


@pytest.mark.parametrize("language", SUPPORTED)
def test_travel_instructions_render_in_each_language(language: str) -> None:
    for name, movement in {"ticketed": _ticketed(), "preparing": opened("case-wait")}.items():
        notice = travel_instructions(movement, language, MEETING)
        rendered = proof(notice, PICTURES, name=f"{name}-{language}")
        assert rendered.problems(notice) == []
        text = " ".join(rendered.text.split())
        if name == "ticketed":
            meeting, passport = WORDS[language]
            assert meeting in text and MEETING in text and "05:30" in text
            assert passport in text
            assert "TDN-4471" not in text  # the booking reference names passengers: left out


def test_a_ticket_without_a_meeting_point_says_it_is_to_be_confirmed() -> None:
    movement = ready(opened("case-old"))
    movement.issue_ticket(booking(), TODAY, NOW)
    rows = dict(travel_instructions(movement, "pt").rows)
    assert rows["Ponto de encontro"] == "a confirmar pelo serviço de viagens"
    assert "Hora de encontro" not in rows


# ------------------------------------------------------------------ the API --


async def test_the_meeting_point_is_recorded_with_the_ticket_and_given_in_the_notice(
    travel: Travel,
) -> None:
    await travel.opened("notice-1")
    await travel.make_ready("notice-1", [m.person_id for m in family()])
    issued = await travel.post(
        "/movements/notice-1/ticket",
        ticket(meeting_point="La Aurora airport, terminal 1", meeting_time="04:45"),
    )
    assert issued.status_code == 200, issued.text
    path = "/movements/notice-1/notices/travel-instructions"

    html = await travel.http.get(path, headers={**CASEWORKER, "Accept-Language": "fr"})
    assert html.status_code == 200, html.text
    assert html.headers["content-language"] == "fr"
    assert "La Aurora airport, terminal 1" in html.text and "04:45" in html.text
    assert "Vos instructions de voyage" in html.text
    await a_notice_as_pdf(travel.http, path, "es", OFFICER)
    outsiders = [
        {"X-AVRR-Roles": "travel_officer", "X-AVRR-Offices": "MX-TAP"},
        {"X-AVRR-Roles": "reintegration_officer", "X-AVRR-Offices": "GT-GUA"},
    ]
    await a_notice_kept_from(travel.http, path, outsiders, "Aurora")

    entries = await travel.runtime.audit.entries(case_id="notice-1")
    route = "GET /movements/{case_id}/notices/travel-instructions"
    reads = [e for e in entries if e.route == route]
    assert {e.outcome for e in reads} >= {200, 403}


async def test_the_instructions_are_in_the_households_language(travel: Travel) -> None:
    """Eligibility's clearance passes on the languages intake recorded: the first a catalog
    has is the notice's, whatever the reader's Accept-Language."""
    await travel.clear("notice-3", languages=["pt", "es"])
    await travel.wait_for("notice-3", status="preparing")
    path = "/movements/notice-3/notices/travel-instructions"
    notice = await travel.http.get(path, headers={**CASEWORKER, "Accept-Language": "en"})
    assert notice.status_code == 200, notice.text
    assert notice.headers["content-language"] == "pt"
    assert "As suas instruções de viagem" in notice.text


async def test_a_meeting_point_must_say_where(travel: Travel) -> None:
    await travel.opened("notice-2")
    await travel.make_ready("notice-2", [m.person_id for m in family()])
    for bad in ("", "   ", "x" * 201):
        refused = await travel.post("/movements/notice-2/ticket", ticket(meeting_point=bad))
        assert refused.status_code == 422, bad
        assert "meeting_point" in refused.text
    late = await travel.post("/movements/notice-2/ticket", ticket(meeting_time="25:00"))
    assert late.status_code == 422 and "meeting_time" in late.text
