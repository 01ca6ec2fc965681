"""Processes starting together create the tables once, without tripping over each other."""

from __future__ import annotations

import asyncio

from sample_domain import read_models
from sqlalchemy import inspect

from avrr_events import Database, tables


async def test_concurrent_starts_create_every_table_without_error(any_db_url: str) -> None:
    starters = [Database(any_db_url, pool_size=1) for _ in range(6)]
    try:
        await asyncio.gather(*(db.create_schema(read_models) for db in starters))
        await asyncio.gather(*(db.create_tables(tables.subject_keys) for db in starters))
        async with starters[0].engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"events", "outbox", "inbox", "subject_keys", "case_summary"} <= names
    finally:
        for db in starters:
            await db.dispose()
