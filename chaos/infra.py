"""A PostgreSQL server and a Kafka broker of the chaos run's own, through scripts/infra.sh.

Other ports and a private state directory: restarting them never disturbs the
shared servers other work tests on.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from avrr_events.testing import run_infra_script

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "scripts" / "infra.sh"


def say(text: str) -> None:
    print(f"chaos: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class PrivateInfra:
    state_dir: Path
    pg_port: int = 25432
    kafka_port: int = 29092
    controller_port: int = 29093

    @property
    def admin_url(self) -> str:
        """A role that may CREATE DATABASE (infra.sh provisions ``avrr``)."""
        return f"postgresql+asyncpg://avrr:avrr@127.0.0.1:{self.pg_port}/avrr_test"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    async def run(self, command: str) -> None:
        """``scripts/infra.sh <command>`` on this run's servers; raise with its log on failure."""
        env = {
            **os.environ,
            "AVRR_STATE_DIR": str(self.state_dir),
            "AVRR_PG_PORT": str(self.pg_port),
            "AVRR_KAFKA_PORT": str(self.kafka_port),
            "AVRR_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "AVRR_KAFKA_HEAP_OPTS": "-Xms256m -Xmx768m",
            # A private broker of plain listeners only (no SASL port to collide).
            "AVRR_KAFKA_SASL_PORT": "off",
            # A restart on a loaded machine: the broker loads its consumer groups and
            # state again, which took over the default 60 s at load 9 (a fault that
            # "could not be recovered", though the broker came up moments later).
            "AVRR_INFRA_TIMEOUT": os.environ.get("AVRR_INFRA_TIMEOUT", "240"),
        }
        await run_infra_script(command, env, INFRA)

    async def up(self) -> None:
        await self.run("up")

    async def down(self) -> None:
        await self.run("down")

    async def restart_kafka(self, downtime: float) -> None:
        """Stop the broker, leave it down ``downtime`` seconds, start it again."""
        await self.run("kafka-down")
        await asyncio.sleep(downtime)
        await self.run("kafka-up")

    async def restart_postgres(self, downtime: float) -> None:
        """Stop PostgreSQL (fast shutdown: every session is cut), wait, start it again."""
        await self.run("pg-down")
        await asyncio.sleep(downtime)
        await self.run("pg-up")
