"""What every figure needs: a throw-away database, sample events, results."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from avrr_events import Envelope
from avrr_events.adapters.kafka import KafkaSettings

REPO = Path(__file__).resolve().parent.parent
SOURCE = "/avrr/bench"
OPENED = "avrr.bench.CaseOpened"
NOTED = "avrr.bench.NoteAdded"
# About 600 bytes on the wire with the CloudEvents headers, like PERFORMANCE.md's events.
FILLER = "lorem ipsum dolor sit amet " * 9


@dataclass(frozen=True)
class Figure:
    """One line of the table: our rate, the baseline's rate, the target on their ratio."""

    name: str
    unit: str
    ours: float
    baseline: float
    baseline_name: str
    target_ratio: float | None = None
    target_abs: float | None = None  # ours must also reach this rate

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")

    @property
    def target(self) -> str:
        parts = []
        if self.target_ratio is not None:
            parts.append(f">= {self.target_ratio:g}x")
        if self.target_abs is not None:
            parts.append(f">= {self.target_abs:,.0f} {self.unit}")
        return " and ".join(parts) or "-"

    @property
    def met(self) -> bool | None:
        if self.target_ratio is None and self.target_abs is None:
            return None
        ok = True
        if self.target_ratio is not None:
            ok = ok and self.ratio >= self.target_ratio
        if self.target_abs is not None:
            ok = ok and self.ours >= self.target_abs
        return ok


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit('DATABASE_URL is not set: eval "$(scripts/infra.sh env)" first')
    return url


def kafka_settings() -> KafkaSettings:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        raise SystemExit('KAFKA_BOOTSTRAP_SERVERS is not set: eval "$(scripts/infra.sh env)" first')
    return KafkaSettings(servers)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL (for asyncpg and psycopg)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str  # SQLAlchemy URL (postgresql+asyncpg)
    dsn: str  # libpq URL


@asynccontextmanager
async def fresh_database(base_url: str) -> AsyncIterator[BenchDatabase]:
    """CREATE DATABASE bench_<random>; DROP it afterwards, whatever happened."""
    name = f"bench_{secrets.token_hex(4)}"
    admin_dsn = asyncpg_dsn(base_url)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield BenchDatabase(name, url, asyncpg_dsn(url))
    finally:
        await _drop_database(admin_dsn, name)


async def _drop_database(admin_dsn: str, name: str) -> None:
    """DROP the bench database; retry while a session we may not end (autovacuum) is in it."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        for attempt in range(40):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError) as exc:
                if attempt == 39:
                    print(f"could not drop database {name}: {exc}", file=sys.stderr)
                    return
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


def envelope(subject: str, n: int, *, opened: bool = False) -> Envelope:
    """A typical event: a ~300-byte payload plus the CloudEvents attributes."""
    data: dict[str, Any] = (
        {"office": f"office-{n % 7}", "note": FILLER}
        if opened
        else {"text": f"note {n} {FILLER}", "author": "caseworker"}
    )
    return Envelope(
        source=SOURCE,
        type=OPENED if opened else NOTED,
        subject=subject,
        dataschema=f"https://schemas.avrr.example/{OPENED if opened else NOTED}/1",
        dataversion=1,
        correlationid=str(uuid.uuid4()),
        data=data,
    )


def now() -> datetime:
    return datetime.now(UTC)


class Timer:
    """Wall-clock seconds of a block."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def every_event_per_second(what: str, done: int, expected: int, seconds: float) -> float:
    """The rate of a run that had to handle all ``expected`` events; RuntimeError if it did not.

    ``what`` says what the run did to them ("relay drained"), for the error.
    """
    if done != expected:
        raise RuntimeError(f"{what} {done} events, expected {expected}")
    return done / seconds


def steps_of_the_tests(name: str) -> ModuleType:
    """tests/<name>.py imported as ``name``: a scenario's steps, reused as the load."""
    path = REPO / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def say(text: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(text, file=sys.stderr, flush=True)


async def delete_topics(settings: KafkaSettings, names: list[str]) -> None:
    """Delete a run's topics; leftovers are only logged (bench topics have unique names)."""
    admin = AIOKafkaAdminClient(**settings.options())
    await admin.start()
    try:
        await admin.delete_topics(names)
    except Exception as exc:
        say(f"could not delete topics {names}: {exc}")
    finally:
        await admin.close()
