"""``avrr demo``: demo cases on the embedded default, through intake's API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from avrr_events.cli.base import (
    Config,
    DevUser,
    Token,
    auth_headers,
    fail,
    out,
    problem,
    progress_bar,
    run,
)

# ----------------------------------------------------------------------- demo --


def demo(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="AVRR_URL", help="root of the embedded platform")
    ] = "http://127.0.0.1:8000",
    token: Token = None,
    user: DevUser = "avrr-cli",
) -> None:
    """Load demo cases through intake's development-only POST /intake/demo (make run)."""

    async def work(_config: Config) -> None:
        cases = await load_demo(url, token=token, user=user)
        columns = sorted({k for case in cases if isinstance(case, dict) for k in case})
        table = Table(*columns, title=f"{len(cases)} demo case(s) loaded")
        for case in cases:
            table.add_row(*(str(case.get(c, "")) for c in columns))
        out.print(table)

    run(ctx, work)


async def load_demo(url: str, *, token: str | None = None, user: str = "avrr-cli") -> list[Any]:
    headers = {
        **auth_headers(token, user, "caseworker", "GT-GUA"),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    with progress_bar() as bar:
        bar.add_task("loading demo cases (through every service's API)", total=None)
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=300) as client:
            try:
                response = await client.post("/intake/demo", headers=headers)
            except httpx.TransportError as exc:
                fail(f"{url} is not reachable: {exc}")
    if response.status_code == 404:
        fail(
            "POST /intake/demo answered 404: it exists in development mode only (AVRR_DEV=1, "
            "as `make run` sets) and needs every service under one root"
        )
    if response.status_code >= 400:
        fail(f"intake answered {response.status_code}: {problem(response)}")
    cases: list[Any] = response.json().get("cases", [])
    return cases
