"""How a frontend reaches an API through a gateway: a path per service, CORS for listed origins.

Behind an Ingress or HTTPRoute every service answers under ``/<service>``
(``AVRR_PATH_PREFIX``), as in the embedded default; its probes and metrics
are not reachable that way. Browsers of the origins in ``AVRR_CORS_ORIGINS``
(none by default) get their preflights answered and may send credentials;
any other origin gets no CORS header at all.
"""

from __future__ import annotations

import httpx
from sample_service import rest_service

from avrr_events.settings import ServiceSettings
from avrr_events.testing import serving
from avrr_events.web.service import ServiceRuntime

exposed = rest_service("exposed")
FRONTEND = "https://caseworker.example.org"
HEADERS = {"X-AVRR-User": "ana", "X-AVRR-Roles": "caseworker"}


async def _client(settings: ServiceSettings) -> tuple[ServiceRuntime, httpx.AsyncClient]:
    runtime = ServiceRuntime(exposed, settings)
    app = runtime.app(lifespan=False)
    return runtime, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_service_answers_under_its_path_and_keeps_probes_and_metrics_inside(
    sqlite_url: str,
) -> None:
    settings = ServiceSettings(database_url=sqlite_url, dev=True, path_prefix="/exposed")
    runtime = ServiceRuntime(exposed, settings)
    async with serving(runtime) as http:
        assert (await http.post("/exposed/cases/g-1", headers=HEADERS)).status_code == 200
        assert (await http.post("/cases/g-2", headers=HEADERS)).status_code == 200
        for inside in ("/exposed/health/live", "/exposed/health/ready", "/exposed/metrics"):
            refused = await http.get(inside)
            assert refused.status_code == 404, inside
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200


async def test_cors_answers_listed_origins_only_and_none_by_default(sqlite_url: str) -> None:
    preflight = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key,if-match",
    }
    _, closed = await _client(ServiceSettings(database_url=sqlite_url, dev=True))
    async with closed:
        answer = await closed.options("/cases/c-1", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers

    settings = ServiceSettings(database_url=sqlite_url, dev=True, cors_origins=FRONTEND)
    _, open_ = await _client(settings)
    async with open_:
        answer = await open_.options("/cases/c-1", headers=preflight)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == FRONTEND
        assert answer.headers["access-control-allow-credentials"] == "true"
        allowed = answer.headers["access-control-allow-headers"].lower()
        assert "idempotency-key" in allowed and "if-match" in allowed

        stranger = await open_.options(
            "/cases/c-1", headers={**preflight, "Origin": "https://elsewhere.example"}
        )
        assert stranger.status_code == 400
        assert "access-control-allow-origin" not in stranger.headers

        simple = await open_.get("/health/live", headers={"Origin": FRONTEND})
        assert simple.headers["access-control-allow-origin"] == FRONTEND
        assert "ETag" in simple.headers.get("access-control-expose-headers", "")
