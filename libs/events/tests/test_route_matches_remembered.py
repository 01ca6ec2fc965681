"""A request's route is looked for once per included router (``web.routing``), and routing
answers what it answered before: the route, its path parameters, 404, 405, slash redirects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from avrr_events.web.routing import remember_route_matches


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The route templates a request's routing compared its path with, in order."""
    seen: list[str] = []
    compare = APIRoute.matches

    def counted(self: APIRoute, scope: Any) -> Any:
        seen.append(self.path)
        return compare(self, scope)

    monkeypatch.setattr(APIRoute, "matches", counted)
    yield seen


def nested_app() -> FastAPI:
    """Routes two inclusions deep, as intake's (app -> service router -> its sub-routers)."""
    inner = APIRouter()

    @inner.get("/cases")
    async def cases() -> list[str]:
        return []

    @inner.get("/cases/{case_id}/consents")
    async def consents(case_id: str) -> dict[str, str]:
        return {"consents_of": case_id}

    @inner.get("/cases/{case_id}")
    async def case(case_id: str) -> dict[str, str]:
        return {"case_id": case_id}

    service = APIRouter()
    service.include_router(inner)
    app = FastAPI()
    app.include_router(service)
    return app


async def test_the_route_of_a_request_is_looked_for_once(scanned: list[str]) -> None:
    assert remember_route_matches()
    app = nested_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        response = await http.get("/cases/c-1")
        assert response.json() == {"case_id": "c-1"}
        # Each template once, in the router's order, up to the one that matched: FastAPI
        # alone compared them three times (asked to match, then to handle, at each level).
        assert scanned == ["/cases", "/cases/{case_id}/consents", "/cases/{case_id}"]

        scanned.clear()
        assert (await http.get("/cases/c-2/consents")).json() == {"consents_of": "c-2"}
        assert scanned == ["/cases", "/cases/{case_id}/consents"]


async def test_routing_answers_what_it_answered_before() -> None:
    assert remember_route_matches()
    assert remember_route_matches()  # installed once, however often asked
    app = nested_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        assert (await http.get("/cases/c-1")).json() == {"case_id": "c-1"}
        assert (await http.get("/nowhere")).status_code == 404
        assert (await http.post("/cases/c-1")).status_code == 405
        redirected = await http.get("/cases/c-1/")
        assert (redirected.status_code, redirected.headers["location"]) == (
            307,
            "http://t/cases/c-1",
        )
        assert [r.json() for r in [await http.get(f"/cases/{i}") for i in "ab"]] == [
            {"case_id": "a"},
            {"case_id": "b"},
        ]
