"""The notices library: the language, HTML escaping, the PDF as read, HTML or PDF by Accept."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from avrr_events.notices import (
    Notice,
    Section,
    choose,
    fallback_chain,
    format_date,
    to_html,
    to_pdf,
)
from avrr_events.notices.proofs import proof
from avrr_events.web.http import install_problem_handlers
from avrr_events.web.notices import NOTICE_RESPONSES, media_type, notice_response

PROOFS = Path(os.environ.get("AVRR_NOTICE_PROOFS", "/tmp/notices"))


@pytest.mark.parametrize(
    ("accept_language", "person", "expected"),
    [
        (None, ["pt"], "pt"),
        ("fr", ["es"], "es"),  # the person's language before the reader's
        ("fr", ["ar", "por"], "pt"),  # unsupported skipped; ISO 639-3 read as 639-1
        ("pt-BR,pt;q=0.9,en;q=0.5", [], "pt"),
        ("es-419", [], "es"),
        ("de, fr;q=0.4, en;q=0.3", [], "fr"),
        ("fr;q=0, es", [], "es"),  # q=0: "not this"
        ("ht", [], "ht"),
        ("zz-QQ, !!", [], "en"),
        (None, ["mam"], "en"),  # a language without any catalog: English
        ("", [], "en"),
    ],
)
def test_language_is_the_persons_then_the_readers_then_english(
    accept_language: str | None, person: list[str], expected: str
) -> None:
    assert choose(accept_language, person) == expected


def test_haitian_creole_falls_back_to_french_then_english() -> None:
    assert fallback_chain("ht") == ("ht", "fr", "en")
    assert fallback_chain("pt") == ("pt", "en")
    assert fallback_chain("en") == ("en",)


def test_dates_are_written_out_in_the_language() -> None:
    day = datetime.date(2026, 12, 7)
    assert format_date(day, "pt") == "7 de dezembro de 2026"
    assert format_date(day, "es") == "7 de diciembre de 2026"
    assert format_date(day, "ht") == "7 décembre 2026"


SAMPLE = Notice(
    language="pt",
    title="Os seus direitos",
    rows=(("Nome", 'Zoë <script>alert("x")</script> Ørsted Ăn Дмитрий'),),
    sections=(
        Section("Voluntário", ("Pode desistir a qualquer momento, sem custo. " * 12,)),
        Section("Confidencial", ("Nada é partilhado com as autoridades sem o seu acordo.",)),
        Section("Documentos a trazer", rows=(("1", "Passaporte"), ("2", "Bilhete"))),
    ),
    footer="AVRR",
)


def test_html_escapes_every_string_and_names_the_language() -> None:
    page = to_html(SAMPLE)
    assert '<html lang="pt">' in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_pdf_holds_the_text_inside_its_margins() -> None:
    rendered = proof(SAMPLE, PROOFS / "library", name="sample-pt")
    assert rendered.problems(SAMPLE) == []
    flat = " ".join(rendered.text.split())
    assert "Ørsted Ăn Дмитрий" in flat  # the embedded font prints every name
    assert "Passaporte" in flat


def test_a_label_that_wraps_pushes_the_next_row_down() -> None:
    # "Pessoas no agregado familiar" and "Voyageur 1 (p-mother), 34 ans" wrap in the key
    # column; the next row was printed over their second line.
    rows = (
        ("Voyageur 1 (p-mother), 34 ans, avec un nom de famille long", "passeport"),
        ("Voyageur 2 (p-daughter), 7 ans", "passeport"),
        ("Pessoas no agregado familiar", "3"),
        ("Data da decisão", "22 de novembro de 2026"),
    )
    notice = Notice("fr", "Lignes", rows=rows, sections=(Section("Documents", rows=rows),))
    rendered = proof(notice, PROOFS / "library", name="wrapped-rows-fr")
    assert rendered.problems(notice) == []


def test_a_long_notice_runs_onto_more_pages_within_margins() -> None:
    parts = tuple(Section(f"Part {i}", ("text " * 200,)) for i in range(8))
    long = Notice("en", "Long", sections=parts)
    rendered = proof(long, PROOFS / "library", name="long-en")
    assert len(rendered.pages) > 1
    assert rendered.problems(long) == []


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("application/pdf", "application/pdf"),
        ("text/html;q=0.5, application/pdf", "application/pdf"),
        ("application/*", "application/pdf"),
        ("application/json, */*;q=0.1", "text/html"),
    ],
)
def test_media_type_by_accept(accept: str | None, expected: str) -> None:
    assert media_type(accept) == expected


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/notice", responses=NOTICE_RESPONSES)
    async def notice(request: Request) -> Response:
        return await notice_response(request, SAMPLE, filename="rights")

    return app


def test_route_answers_html_pdf_or_406() -> None:
    client = TestClient(_app())
    page = client.get("/notice", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-language"] == "pt"
    pdf = client.get("/notice", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"
    refused = client.get("/notice", headers={"Accept": "application/json"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:avrr:problem:not-acceptable"


def test_a_pdf_is_drawn_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # fpdf2 spends ~330 ms of CPU on a two-page notice: on the loop, every other request of
    # the service would wait for it.
    import threading

    from avrr_events.web import notices as web

    drawn_on: list[int] = []
    loop_thread: list[int] = []

    def drawing(notice: Notice) -> bytes:
        drawn_on.append(threading.get_ident())
        return to_pdf(notice)

    monkeypatch.setattr(web, "to_pdf", drawing)
    app = _app()

    @app.middleware("http")
    async def note_loop_thread(request: Request, call_next: Any) -> Response:
        loop_thread.append(threading.get_ident())
        response: Response = await call_next(request)
        return response

    pdf = TestClient(app).get("/notice", headers={"Accept": "application/pdf"})
    assert pdf.content.startswith(b"%PDF")
    assert drawn_on and loop_thread and drawn_on[0] != loop_thread[0]
