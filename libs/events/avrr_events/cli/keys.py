"""``avrr keys rewrap``: rotate the master key (re-wrap every data key)."""

from __future__ import annotations

import base64
from typing import Annotated

import typer
from pydantic import SecretStr

from avrr_events.adapters.database import Database
from avrr_events.cli.base import Config, fail, out, run
from avrr_events.env_settings import secret_of
from avrr_events.personal import MasterKey, rewrap_keys

keys_app = typer.Typer(help="The key store: the master key that wraps every person's data key.")


# ----------------------------------------------------------------------- keys --


@keys_app.command("rewrap")
def keys_rewrap(
    ctx: typer.Context,
    previous_env: Annotated[
        str,
        typer.Option(
            "--previous-from", help="the variable holding the previous master key (base64)"
        ),
    ] = "AVRR_PREVIOUS_MASTER_KEY",
) -> None:
    """Rotate the master key: re-wrap every data key from the previous key to AVRR_MASTER_KEY.

    One transaction over the key store (AVRR_KEYSTORE_URL); keys already under
    the new key are left alone, so it may be run again. Run it while no
    service runs: a service holds one master key, the old one until restarted
    with the new one. The audit log's key is derived from the master key
    unless AVRR_AUDIT_KEY is set: pin that first (docs/operations.md).
    """

    async def work(config: Config) -> None:
        settings = config.settings()
        url = settings.keystore_url or settings.database_url
        if not url:
            fail("neither AVRR_KEYSTORE_URL nor DATABASE_URL is set (or --keystore-url)")
        keys: dict[str, MasterKey] = {}
        for role, variable, value in (
            ("new", "AVRR_MASTER_KEY", _revealed(settings.master_key)),
            ("previous", previous_env, _revealed(secret_of(previous_env))),
        ):
            if not value:
                fail(f"{variable} is not set: the {role} master key (base64 of 32 bytes)")
            try:
                keys[role] = MasterKey(base64.b64decode(value, validate=True))
            except ValueError:
                fail(f"{variable} is not base64 of 32 bytes")
        db = Database(url, pool_size=1)
        try:
            rewrapped, already = await rewrap_keys(db, keys["previous"], keys["new"])
        except ValueError as exc:
            fail(f"{exc}: nothing changed")
        finally:
            await db.dispose()
        out.print(f"{rewrapped} keys re-wrapped, {already} already under the new master key")

    run(ctx, work)


def _revealed(secret: SecretStr | None) -> str | None:
    """A master key's base64 text, to decode here and nowhere printed."""
    return None if secret is None else secret.get_secret_value()
