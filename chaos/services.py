"""The four services as OS processes that the chaos run may SIGKILL and start again.

Each keeps its port, database and environment across restarts, as a
supervisor (systemd, Kubernetes) would restart it. The environment is the one
``avrr_events.testing.service_processes`` and benchmarks/lifecycle.py give a
service process: a database each, one shared key database, this run's own
topic prefix, dev auth.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from avrr_events.migrations import migrate
from avrr_events.serve import find
from avrr_events.settings import ServiceSettings
from avrr_events.testing import (
    ServiceProcess,
    _create_database,
    _free_port,
    _wait_ready,
    spawn_service,
    stop_service_processes,
)
from chaos.infra import REPO, say

SERVICES = ("intake", "eligibility", "travel", "reintegration")


def unlimited_programmes(target: Path) -> Path:
    """Reintegration's programme file without places or budget caps, written to ``target``.

    The seed's limits (150 places, a 75,000 USD budget for Mesoamerica) are
    policy; thousands of synthetic completions would exhaust them and turn
    grants into waiting lists, which is not what this run verifies.
    """
    source = REPO / "services/reintegration/avrr_reintegration/programmes.yaml"
    data = yaml.safe_load(source.read_text())
    for programme in data["programmes"].values():
        programme["places"] = None
        programme["budget"] = None
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return target


@dataclass
class Fleet:
    """The four service processes of one chaos run."""

    admin_url: str
    bootstrap: str
    prefix: str
    logs: Path
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    restart_seconds: list[float] = field(default_factory=list)

    def database(self, service: str) -> str:
        return f"{self.prefix}_{service}"

    def url_of(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    async def start(self) -> None:
        """Create the databases, start every service (intake first: it creates the key table)."""
        keys = self.database("keys")
        await _create_database(self.admin_url, keys)
        programmes = unlimited_programmes(self.logs / "programmes.yaml")
        for name in SERVICES:
            url = await _create_database(self.admin_url, self.database(name))
            # As the deployment's setup Job: the services refuse unmigrated databases.
            await migrate(
                find(name), ServiceSettings(database_url=url, keystore_url=self.url_of(keys))
            )
            self.env[name] = {
                **os.environ,
                "DATABASE_URL": url,
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "AVRR_KEYSTORE_URL": self.url_of(keys),
                "AVRR_TOPIC_PREFIX": self.prefix,
                "AVRR_DEV": "1",
                "AVRR_DEV_AUTH_OVERRIDE": "1",  # header authentication on PostgreSQL
                "AVRR_PORT": str(_free_port()),
                "AVRR_RELAY_POLL": "0.2",
                "AVRR_LOG_LEVEL": "WARNING",
                "AVRR_REINTEGRATION_PROGRAMMES": str(programmes),
            }
        for name in SERVICES:
            await self.spawn(name)
            if name == SERVICES[0]:
                await self.ready(name)
        for name in SERVICES[1:]:
            await self.ready(name)

    async def spawn(self, name: str) -> ServiceProcess:
        env = self.env[name]
        log_path = self.logs / f"{name}.log"
        process = await spawn_service(name, env, log_path, append=True)
        proc = ServiceProcess(name, int(env["AVRR_PORT"]), env["DATABASE_URL"], process, log_path)
        self.procs[name] = proc
        return proc

    async def ready(self, name: str, patience: float = 300.0) -> None:
        """Wait until ``name`` answers ready; start it again each time it exits on the way.

        A service that starts while PostgreSQL or Kafka is away fails its start-up
        and exits; its supervisor starts it again, and so does this.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            try:
                await _wait_ready(self.procs[name], timeout=max(1.0, deadline - loop.time()))
                return
            except RuntimeError:
                if loop.time() > deadline:
                    raise
                if self.procs[name].process.returncode is None:
                    raise
                say(f"{name} exited while starting ({self.procs[name].process.returncode}); again")
                await asyncio.sleep(2.0)
                await self.setup(name)
                await self.spawn(name)

    async def setup(self, name: str) -> None:
        """``python -m avrr_events.setup <name>``, as an init container would before a start.

        A start that failed may have met a database the code has outgrown (a
        migration added to the working tree while the run went on): the setup
        command brings it to the code's head. Its failure (the database away) is
        left to the next start to show.
        """
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "avrr_events.setup",
            name,
            env=self.env[name],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await proc.wait()

    async def kill_and_restart(self, name: str) -> None:
        """SIGKILL the service (no clean-up of any kind) and start it again until ready."""
        started = asyncio.get_running_loop().time()
        process = self.procs[name].process
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
        self.kills[name] += 1
        await self.spawn(name)
        await self.ready(name)
        self.restart_seconds.append(asyncio.get_running_loop().time() - started)

    async def stop(self) -> None:
        await stop_service_processes(self.procs.values())

    def alive(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.process.returncode is None]

    @property
    def urls(self) -> dict[str, str]:
        return {name: proc.url for name, proc in self.procs.items()}

    def note(self, text: str) -> None:
        say(text)
