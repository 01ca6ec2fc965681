"""The embedded default (SQLite + in-process bus, one app) serves intake end to end."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import httpx
from intake_fixtures import CASEWORKER, PRINCIPAL_NAME, referral

from avrr_events.testing import eventually
from avrr_events.web.embedded import ENTRY_POINT_GROUP, build_app


async def test_the_embedded_app_serves_a_referral_end_to_end(tmp_path: Path) -> None:
    # Found through its entry point, as `make run` finds every installed service
    # (loaded alone: the other services may be mid-installation in this tree).
    [entry] = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "intake"]
    app = build_app(tmp_path, [entry.load()])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://avrr", headers=CASEWORKER
        ) as http,
    ):
        created = await http.post("/intake/referrals", json=referral())
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        assert location.startswith("/intake/cases/")

        async def readable() -> bool:
            return (await http.get(location)).status_code == 200

        await eventually(readable, timeout=10)
        case = (await http.get(location)).json()
        principal = next(p for p in case["household"] if p["relationship"] == "principal")
        assert f"{principal['given_names']} {principal['family_name']}" == PRINCIPAL_NAME
        openapi = (await http.get("/intake/openapi.json")).json()
        assert "/referrals" in openapi["paths"]
    assert (tmp_path / "intake.db").exists() and (tmp_path / "keys.db").exists()
