"""``avrr erase case|subject``: erase personal data (crypto-shredding).

``erase case`` calls intake's ``POST /cases/{id}/erasure`` (role
  data_protection_officer): intake shreds every person of the case AND records
  PersonalDataErased, so the case refuses further commands, the other
  services and the timeline learn of it, and the audit log names who did it.
  Deleting keys behind the domain's back does none of that; ``erase subject``
  exists only for a subject no case reaches (say, a person id seen in a dead
  letter), deletes that one key from the key store, and asks for the id to be
  typed again.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import httpx
import typer
from rich.panel import Panel
from sqlalchemy import delete

from avrr_events import tables
from avrr_events.adapters.database import Database
from avrr_events.cli.base import Config, DevUser, Token, auth_headers, err, fail, out, problem, run

erase_app = typer.Typer(help="Erase personal data (crypto-shredding).")


@erase_app.command("case")
def erase_case(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="the case whose people are erased")],
    url: Annotated[
        str, typer.Option("--url", envvar="AVRR_INTAKE_URL", help="intake's base URL")
    ] = "http://127.0.0.1:8000/intake",
    token: Token = None,
    user: DevUser = "avrr-cli",
    if_match: Annotated[str | None, typer.Option("--if-match", help="expected version")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Erase the personal data of every person of a case, through intake (recorded, audited)."""

    async def work(_config: Config) -> None:
        if not yes and not typer.confirm(
            f"Erase the personal data of every person of case {case_id}? This cannot be undone"
        ):
            fail("not confirmed")
        body = await erase_case_via_api(url, case_id, token=token, user=user, if_match=if_match)
        typer.echo(json.dumps(body))

    run(ctx, work)


async def erase_case_via_api(
    url: str,
    case_id: str,
    *,
    token: str | None = None,
    user: str = "avrr-cli",
    if_match: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    headers = {
        # Dev headers only: the operator at the console acts for every office.
        **auth_headers(token, user, "data_protection_officer", "*"),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    if if_match:
        headers["If-Match"] = if_match
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30, transport=transport) as c:
        try:
            response = await c.post(f"/cases/{case_id}/erasure", headers=headers)
        except httpx.TransportError as exc:
            fail(f"intake at {url} is not reachable: {exc}")
    if response.status_code >= 400:
        fail(f"intake answered {response.status_code}: {problem(response)}")
    result: dict[str, Any] = response.json()
    return result


@erase_app.command("subject")
def erase_subject(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="the person id (key store subject)")],
    confirm: Annotated[
        str | None, typer.Option("--confirm", help="the same subject id again, to not be asked")
    ] = None,
) -> None:
    """Break glass: delete one subject's key from the key store, outside any case.

    Everything ever encrypted for the subject becomes unreadable in every
    service sharing the key store, and NO event records it: intake's case does
    not know. Prefer `avrr erase case`.
    """

    async def work(config: Config) -> None:
        err.print(
            Panel(
                f"Deletes the data key of subject [bold]{subject}[/bold] from the key store.\n"
                "Everything encrypted for them becomes unreadable in EVERY service, for good.\n"
                "No event, no audit entry, no case change records it: prefer "
                "`avrr erase case <case-id>`, which goes through intake.",
                title="[red]crypto-shredding outside the domain[/red]",
                border_style="red",
            )
        )
        typed = confirm if confirm is not None else typer.prompt("Type the subject id to confirm")
        if typed != subject:
            fail("the subject ids differ: nothing erased")
        existed = await shred_subject(config, subject)
        out.print(f"{subject}: " + ("key deleted" if existed else "no key (nothing to erase)"))

    run(ctx, work)


async def shred_subject(config: Config, subject: str) -> bool:
    """Delete the subject's key from AVRR_KEYSTORE_URL (else DATABASE_URL); True if it existed.

    Deleting needs no master key, so the CLI never asks for it here.
    """
    settings = config.settings()
    url = settings.keystore_url or settings.database_url
    if not url:
        fail("neither AVRR_KEYSTORE_URL nor DATABASE_URL is set (or --keystore-url)")
    db = Database(url, pool_size=1)
    try:
        t = tables.subject_keys
        async with db.transaction() as conn:
            result = await conn.execute(delete(t).where(t.c.subject == subject))
        return bool(result.rowcount)
    finally:
        await db.dispose()
