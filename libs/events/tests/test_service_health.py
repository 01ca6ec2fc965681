"""Readiness says 503 until the replica can work, and again when a worker has died."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import APIRouter
from sample_domain import registry

from avrr_events.settings import ServiceSettings
from avrr_events.testing import LocalBroker, eventually
from avrr_events.web.service import Service, ServiceRuntime

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
            checks = ready.json()["checks"]
            # (and "kafka" when the environment names a broker)
            assert {"started", "database", "workers"} <= checks.keys()
            assert all(checks.values())
            assert (await http.get("/health/live")).status_code == 200

            runtime.relay.stop()  # the relay ends: this replica no longer publishes
            for task in runtime._tasks:
                if "relay" in task.get_name():
                    await task
            dead = await http.get("/health/ready")
            assert dead.status_code == 503
            assert dead.json()["checks"]["workers"] is False


async def test_readiness_is_503_while_the_kafka_broker_does_not_answer(
    database_url: str, restartable_kafka: LocalBroker, topic_name: Callable[[str], str]
) -> None:
    # A replica that cannot publish would only pile commands' events up in its outbox.
    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=restartable_kafka.settings.bootstrap_servers,
        topic_prefix=topic_name("health"),
        dev=True,
        topic_partitions=1,
    )
    runtime = ServiceRuntime(probe, settings)
    app = runtime.app()
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        app.router.lifespan_context(app),
    ):
        ready = await http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["kafka"] is True

        await restartable_kafka.stop()
        down = await http.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["checks"]["kafka"] is False

        await restartable_kafka.start()

        async def answering_again() -> bool:
            return (await http.get("/health/ready")).status_code == 200

        await eventually(answering_again, timeout=60)
