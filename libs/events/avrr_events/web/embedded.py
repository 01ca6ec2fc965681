"""The embedded default: every installed service in one process, on one port.

``python -m avrr_events.web.embedded`` (``make run``) discovers the services
installed in the environment (entry point group ``avrr.services``), gives them
one shared in-process bus and a SQLite file each under ``./.avrr-data/`` (plus
one shared key database, so an erasure shreds a person in every service), and
mounts each API under ``/<service>`` on one uvicorn server. Development
authentication and the development master key are on: this is for trying the
workflow, never for real data. For the same reason the SQLite files are
migrated to the head revision at start-up (``migrate_on_start``): one
developer, one process, no setup step; every other deployment runs
``avrr setup`` first and its services refuse an unmigrated database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from fastapi import FastAPI

from avrr_events import logs
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.env_settings import EnvironmentSettings, from_env
from avrr_events.settings import ServerSettings, ServiceSettings
from avrr_events.web.service import Service, ServiceRuntime
from avrr_events.web.telemetry import TELEMETRY

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "avrr.services"


def discover(name: str | None = None) -> list[Service]:
    """Every service installed in this environment, by name; with ``name``, only that one
    (none if it is not installed).

    Only what is asked for is imported: a process serving one service that imported
    all four held the other three's modules, ~10-25 MB of its resident memory (issue
    21's < 150 MB per process; docs/benchmarks.md, session 10).
    """
    found: list[Service] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if name is not None and ep.name != name:
            continue
        service = ep.load()
        if not isinstance(service, Service):
            raise TypeError(f"entry point {ep.name} ({ep.value}) is not an avrr_events Service")
        found.append(service)
    return found


def embedded_settings(name: str, data_dir: Path) -> ServiceSettings:
    """SQLite (migrated at start-up), in-process bus, dev key, dev auth: whatever the
    environment says."""
    return ServiceSettings(
        database_url=f"sqlite+aiosqlite:///{data_dir}/{name}.db",
        keystore_url=f"sqlite+aiosqlite:///{data_dir}/keys.db",
        kafka_bootstrap_servers=None,
        master_key=None,
        dev=True,
        dev_auth=True,
        relay_poll_interval=0.5,
        migrate_on_start=True,
    )


def build_app(
    data_dir: Path | str = ".avrr-data", services: Sequence[Service] | None = None
) -> FastAPI:
    """One app mounting every service under ``/<name>``; its lifespan runs them all."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    bus = InProcessBus()
    chosen = list(services) if services is not None else discover()
    runtimes = [ServiceRuntime(s, embedded_settings(s.name, data), bus=bus) for s in chosen]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for runtime in runtimes:
                await stack.enter_async_context(runtime.running())
            yield

    app = FastAPI(title="AVRR (embedded)", lifespan=lifespan, telemetry=TELEMETRY)
    app.state.runtimes = {r.name: r for r in runtimes}

    @app.get("/")
    async def index() -> dict[str, list[str]]:
        return {"services": [f"/{r.name}/docs" for r in runtimes]}

    for runtime in runtimes:
        app.mount(f"/{runtime.name}", runtime.app(lifespan=False))
    return app


class EmbeddedSettings(EnvironmentSettings):
    """Where the embedded platform keeps its SQLite databases (named like its variable)."""

    avrr_data_dir: str = from_env(
        "avrr_data_dir", "AVRR_DATA_DIR", ".avrr-data", "the embedded platform's data folder"
    )


def main() -> None:
    import uvicorn

    logs.configure("embedded")  # each runtime's work names its own service
    app = build_app(EmbeddedSettings().avrr_data_dir)
    names = ", ".join(app.state.runtimes) or "none installed"
    log.info("embedded AVRR with services: %s", names)
    server = ServerSettings()
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        log_config=None,
        access_log=False,  # each service logs its requests itself, in their traces
    )


if __name__ == "__main__":
    main()
