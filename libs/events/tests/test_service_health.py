"""Readiness says 503 until the replica can work, and again when a worker has died."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from sample_domain import registry

from avrr_events.service import Service, ServiceRuntime, ServiceSettings

probe = Service(name="probed", registry=registry, router=APIRouter())


async def test_readiness_follows_startup_and_the_background_workers(sqlite_url: str) -> None:
    runtime = ServiceRuntime(probe, ServiceSettings(database_url=sqlite_url, dev=True))
    app = runtime.app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        before = await http.get("/health/ready")
        assert before.status_code == 503
        assert before.json()["checks"]["started"] is False
        async with app.router.lifespan_context(app):
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"started": True, "database": True, "workers": True}
            assert (await http.get("/health/live")).status_code == 200

            runtime.relay.stop()  # the relay ends: this replica no longer publishes
            for task in runtime._tasks:
                if "relay" in task.get_name():
                    await task
            dead = await http.get("/health/ready")
            assert dead.status_code == 503
            assert dead.json()["checks"]["workers"] is False
