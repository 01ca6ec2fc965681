"""``avrr import cases FILE``: a programme's existing caseload (CSV or XLSX) into intake.

In-process, like ``avrr rebuild``, not through intake's REST API: the
operator holds the database (DATABASE_URL, or the embedded default's SQLite
file) and the master key, so there is no token to issue for a batch job; and
thousands of rows pass no HTTP, JSON or authentication per row (the target is
200 cases/s). Every row still goes through intake's own commands and the
REST API's validation models, so the events are those a caseworker's
requests would write, with the operator (``--user``) as their actor. They wait
in intake's outbox; its relay publishes them to the other services (at once
when it runs, else when it starts).

The rows' meaning is intake's: it provides the importer through the entry
point group ``avrr.importers`` (``cases``), so the library imports no service.
"""

from __future__ import annotations

from collections import Counter
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from avrr_events import migrations
from avrr_events.caseload import (
    IMPORTERS,
    CaseloadImporter,
    ImportRun,
    RowOutcome,
    UnreadableFile,
    read_rows,
    rejects_path,
    write_rejects,
)
from avrr_events.cli.base import Config, err, fail, find_service, out, progress_bar, run
from avrr_events.cli.rebuild import offline_runtime
from avrr_events.commands import Principal

import_app = typer.Typer(help="Import an existing caseload (CSV or XLSX) through the commands.")


def installed_importer(name: str) -> CaseloadImporter:
    """The importer a service declares under ``avrr.importers`` (a seam for tests)."""
    found = entry_points(group=IMPORTERS, name=name)
    if not found:
        fail(f"no installed service imports {name} (entry point group {IMPORTERS})")
    importer: CaseloadImporter = next(iter(found)).load()
    return importer


Caseload = Annotated[Path, typer.Argument(help="the caseload, .csv or .xlsx (docs/import.md)")]
Rejects = Annotated[
    Path | None,
    typer.Option("--rejects", help="the rejected rows with their reason (FILE.rejects.csv)"),
]
Actor = Annotated[str, typer.Option("--user", help="who imports: the events' actor")]
Offices = Annotated[
    list[str] | None,
    typer.Option("--office", help="only cases of this office (repeat; default every office)"),
]


@import_app.command("cases")
def import_cases(
    ctx: typer.Context,
    file: Caseload,
    rejects: Rejects = None,
    user: Actor = "avrr-import",
    office: Offices = None,
) -> None:
    """Create the file's cases through intake's commands; rerunning the same file creates none.

    Every row is validated; a rejected row never stops the others and is written,
    with the reason naming its column, to the rejects file.
    """

    async def work(config: Config) -> None:
        actor = Principal(user, frozenset({"caseworker"}), frozenset(office or ("*",)))
        outcomes = await import_file(config, file, actor, rejects or rejects_path(file))
        counts = Counter(o.status for o in outcomes)
        table = Table("rows", "created", "already imported", "rejected", title=str(file))
        table.add_row(
            str(len(outcomes)),
            *(str(counts[s]) for s in ("created", "already imported", "rejected")),
        )
        out.print(table)
        if counts["rejected"]:
            err.print(f"[yellow]rejected rows and their reasons: {rejects or rejects_path(file)}")

    run(ctx, work)


async def import_file(
    config: Config, file: Path, actor: Principal, rejects: Path
) -> list[RowOutcome]:
    """Import ``file`` (a progress bar on stderr); write ``rejects``; one outcome per row."""
    importer = installed_importer("cases")
    try:
        header, rows = read_rows(file)
    except UnreadableFile as exc:
        fail(str(exc))
    service = find_service(importer.service)
    embedded = config.settings().database_url is None
    async with offline_runtime(service, config) as runtime:
        if embedded:
            # The embedded default migrates its SQLite files itself when it starts; so does this.
            await migrations.apply(service, runtime.db, runtime.keys_db)
        else:
            try:
                await migrations.verify(service, runtime.db, runtime.keys_db)
            except migrations.SchemaNotCurrent as exc:
                fail(f"{exc} (run `avrr setup {service.name}` first)")
        with progress_bar() as bar:
            task = bar.add_task(f"importing {file.name}", total=len(rows))
            outcomes = await importer(
                ImportRun(runtime, rows, actor, lambda n: bar.advance(task, n))
            )
    write_rejects(rejects, header, rows, outcomes)
    return outcomes
