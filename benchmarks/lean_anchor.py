"""The lean anchor of issue 21: the least a service of ours could spend per read and per command.

A FastAPI + asyncpg app on the same uvicorn as the services (uvloop, httptools),
run as its own OS process by ``benchmarks/anchor.py`` on a temporary database
that the bench creates and drops:

- ``GET /cases/{case_id}``: one SELECT of a read-model row, returned as JSON;
- ``POST /cases/{case_id}/notes``: one transaction that upserts the read-model
  row, inserts the event and inserts its outbox row.

Nothing else: no authentication, audit, office scoping, ETag or encryption.
Those are what the services add; the ratio of their CPU per request to this
one's says what they cost (docs/benchmarks.md).

Run: ``ANCHOR_DSN=postgresql://... ANCHOR_PORT=8099 python -m benchmarks.lean_anchor``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id bigserial PRIMARY KEY,
    stream uuid NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL,
    topic text NOT NULL,
    payload jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    case_id uuid PRIMARY KEY,
    version integer NOT NULL,
    doc jsonb NOT NULL
);
"""

UPSERT = """
INSERT INTO cases (case_id, version, doc) VALUES ($1, 1, $2::jsonb)
ON CONFLICT (case_id) DO UPDATE
   SET version = cases.version + 1,
       doc = $2::jsonb
RETURNING version
"""


class Note(BaseModel):
    """The command's body: a note about the case (free text, like a counselling note)."""

    text: str = Field(min_length=1, max_length=4000)
    author: str = Field(min_length=1, max_length=200)


def create_app(dsn: str) -> FastAPI:
    """The app on one asyncpg pool of ``dsn``; its tables are created at startup."""
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        async with pool.acquire() as conn:
            await conn.execute(SCHEMA)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/cases/{case_id}")
    async def detail(case_id: uuid.UUID) -> Response:
        assert pool is not None
        doc = await pool.fetchval("SELECT doc FROM cases WHERE case_id = $1", case_id)
        if doc is None:
            raise HTTPException(404)
        return Response(doc, media_type="application/json")

    @app.post("/cases/{case_id}/notes", status_code=201)
    async def add_note(case_id: uuid.UUID, note: Note) -> dict[str, Any]:
        assert pool is not None
        data = {"case_id": str(case_id), "text": note.text, "author": note.author}
        doc = json.dumps({"case_id": str(case_id), "notes": [data]})
        async with pool.acquire() as conn, conn.transaction():
            version = await conn.fetchval(UPSERT, case_id, doc)
            event_id = await conn.fetchval(
                "INSERT INTO events (stream, version, type, data) VALUES ($1, $2, $3, $4::jsonb)"
                " RETURNING id",
                case_id,
                version,
                "avrr.anchor.NoteAdded",
                json.dumps(data),
            )
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, payload) VALUES ($1, $2, $3::jsonb)",
                event_id,
                "avrr.anchor",
                json.dumps(data),
            )
        return {"case_id": str(case_id), "version": version}

    return app


def main() -> None:
    uvicorn.run(
        create_app(os.environ["ANCHOR_DSN"]),
        host="127.0.0.1",
        port=int(os.environ["ANCHOR_PORT"]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
