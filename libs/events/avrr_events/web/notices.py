"""A notice as an HTTP answer: HTML or PDF by the Accept header, in its language.

One function for every notice route, so each answers alike: ``text/html``
or ``application/pdf`` as the client prefers (``*/*`` and no Accept give
HTML), 406 problem+json for anything else, ``Content-Language`` naming
the notice's language and ``Cache-Control: no-store`` (a notice may carry
a person's name). ``NOTICE_RESPONSES`` documents both media types and the
406 in the OpenAPI, ``reader_language`` is the language a reason-bearing
JSON response is given in. A PDF is drawn in a worker thread: fpdf2 takes a
third of a second of CPU for a two-page notice, which on the event loop
would hold every other request of the service for as long.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from avrr_events.notices.catalogs import N_
from avrr_events.notices.document import Notice, to_html, to_pdf
from avrr_events.notices.languages import SUPPORTED, choose, weighted
from avrr_events.problems import Problem
from avrr_events.refusals import worded

HTML = "text/html"
PDF = "application/pdf"
_OFFERED = (HTML, PDF)


class NotAcceptable(Problem, status=406, code="not-acceptable"):
    """The client accepts none of the media types a notice is given in."""


def media_type(accept: str | None) -> str:
    """HTML or PDF, whichever the Accept header prefers (HTML on a tie or with no header)."""
    if not accept or not accept.strip():
        return HTML
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for quality, position, item in weighted(accept):
        media = item.lower()
        for rank, offered in enumerate(_OFFERED):
            kind = offered.split("/")[0]
            if media in (offered, f"{kind}/*", "*/*"):
                # Exact types outrank wildcards; then quality; then the header's order, then ours.
                specific = 0 if media == offered else 1
                key = (-quality, specific, position * 10 + rank)
                if best is None or key < best:
                    best, chosen = key, offered
    if chosen is None:
        raise NotAcceptable(
            wording=worded(
                N_("a notice is given as %(html)s or %(pdf)s; Accept: names neither"),
                html=HTML,
                pdf=PDF,
            )
        )
    return chosen


async def notice_response(request: Request, notice: Notice, *, filename: str) -> Response:
    """The notice as the request's Accept header asks: HTML inline, PDF as a named attachment."""
    kind = media_type(request.headers.get("accept"))
    headers = {
        "Content-Language": notice.language,
        "Cache-Control": "no-store",
        "Vary": "Accept, Accept-Language",
    }
    if kind == PDF:
        headers["Content-Disposition"] = f'inline; filename="{filename}.pdf"'
        return Response(await run_in_threadpool(to_pdf, notice), media_type=PDF, headers=headers)
    return Response(to_html(notice), media_type=HTML + "; charset=utf-8", headers=headers)


def reader_language(request: Request, person_languages: tuple[str, ...] = ()) -> str:
    """The language to answer this request in: the person's (if given), else Accept-Language."""
    return choose(request.headers.get("accept-language"), person_languages)


Language = Literal["en", "es", "pt", "fr", "ht"]
assert get_args(Language) == SUPPORTED, "the query's languages are the supported ones"
NoticeLanguage = Annotated[
    Language | None,
    Query(
        description="the notice's language; absent: the person's first recorded language a "
        "catalog has, else the reader's Accept-Language, else English"
    ),
]
"""A notice route's ``language`` query: the caseworker chooses the language to hand over."""


NOTICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The notice, in the language Content-Language names.",
        "content": {
            HTML: {"schema": {"type": "string"}},
            PDF: {"schema": {"type": "string", "format": "binary"}},
        },
        "headers": {
            "Content-Language": {
                "description": "the notice's language",
                "schema": {"type": "string"},
            }
        },
    },
    406: {
        "description": "The Accept header names neither text/html nor application/pdf.",
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    },
}
