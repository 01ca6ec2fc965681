"""``avrr migrations status|new <service>``: the schema revisions of a service's databases."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from avrr_events import migrations
from avrr_events.cli.base import Config, ServiceArg, fail, find_service, out, run

migrations_app = typer.Typer(help="Schema migrations (Alembic) of a service's databases.")


@migrations_app.command("status")
def migrations_status(ctx: typer.Context, service: ServiceArg) -> None:
    """Schema revision of a service's database and key store against head; exit 1 if behind."""

    async def work(config: Config) -> None:
        config.database_url()
        try:
            lines = await migrations.status(find_service(service), config.settings())
        except migrations.UnversionedService as exc:
            fail(str(exc))
        table = Table("line", "version table", "revision", "head", "status")
        for line in lines:
            table.add_row(
                line.line.name,
                line.line.version_table,
                ", ".join(line.current) or "none",
                ", ".join(line.heads),
                "[green]at head[/green]" if line.at_head else "[red]behind[/red]",
            )
        out.print(table)
        if not all(line.at_head for line in lines):
            fail(f"not at head: run `avrr setup {service}`")

    run(ctx, work)


@migrations_app.command("new")
def migrations_new(
    ctx: typer.Context,
    line: Annotated[str, typer.Argument(help="an installed service, platform or keystore")],
    message: Annotated[str, typer.Argument(help="what the revision changes")],
) -> None:
    """Write the next revision from what the tables in code changed (for developers)."""

    async def work(_config: Config) -> None:
        if line == migrations.KEYSTORE.name:
            chosen = migrations.KEYSTORE
        elif line == migrations.PLATFORM.name:
            chosen = migrations.PLATFORM
        else:
            found = migrations.service_line(find_service(line))
            if found is None:
                fail(f"{line} declares no migrations (Service.migrations)")
            chosen = found
        path = await migrations.write_revision(chosen, message)
        out.print(
            f"written: {path}" if path else f"{line}: the tables match head, nothing to write"
        )

    run(ctx, work)
