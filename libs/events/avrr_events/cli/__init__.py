"""``avrr``: the operations command line (serve, setup, rebuild, dead letters, erasure, demo,
caseload import).

Every command reads the same environment as the services (``ServiceSettings``:
DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, AVRR_KEYSTORE_URL, AVRR_TOPIC_PREFIX,
AVRR_MASTER_KEY, AVRR_DEV, KAFKA_SECURITY_PROTOCOL and friends); the global
options (``avrr --database-url ... --kafka ... <command>``) override them.
Services are the installed ones (entry point group ``avrr.services``).

    avrr services                                  installed services, topics, projections
    avrr serve intake                              one service (avrr_events.serve)
    avrr setup intake                              migrate its databases, create its topics
    avrr migrations status intake                  its databases' schema revision vs head
    avrr migrations new intake "add x"             next revision from the tables in code
    avrr topics create [intake ...]                the topics of some or all services
    avrr rebuild intake case_files | --all         read models from the inbox journal
    avrr dead-letters list|inspect|redrive intake  the dead-letter topic <prefix>.dlq.<service>
    avrr outbox set-aside|release intake           outbox rows the broker refused for their size
    avrr erase case <case-id>                      through intake's REST API (the domain)
    avrr erase subject <person-id>                 break glass: shred one key directly
    avrr keys rewrap                               rotate the master key (re-wrap every data key)
    avrr demo --url http://127.0.0.1:8000          demo cases on the embedded default
    avrr import cases FILE                         a caseload (CSV, XLSX) through intake's commands
    avrr schema asyncapi|json intake               documents on stdout
    avrr events map [--format json]                producers, reactions, read models of every event

One module per command group (``cli/<group>.py``); ``base.py`` holds the root
app, the global options and what every command shares. The design notes of a
group are in its module's docstring.
"""

from __future__ import annotations

from avrr_events.cli.base import app
from avrr_events.cli.caseload import import_app
from avrr_events.cli.dead_letters import dead_letters_app
from avrr_events.cli.demo import demo
from avrr_events.cli.erase import erase_app
from avrr_events.cli.events import events_app
from avrr_events.cli.keys import keys_app
from avrr_events.cli.migrations import migrations_app
from avrr_events.cli.outbox import outbox_app
from avrr_events.cli.rebuild import rebuild
from avrr_events.cli.schema import schema_app
from avrr_events.cli.service import list_services, serve, setup
from avrr_events.cli.topics import topics_app

app.command("services")(list_services)
app.command()(serve)
app.command()(setup)
app.command()(rebuild)
app.command()(demo)
app.add_typer(dead_letters_app, name="dead-letters", no_args_is_help=True)
app.add_typer(topics_app, name="topics", no_args_is_help=True)
app.add_typer(schema_app, name="schema", no_args_is_help=True)
app.add_typer(erase_app, name="erase", no_args_is_help=True)
app.add_typer(migrations_app, name="migrations", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox", no_args_is_help=True)
app.add_typer(keys_app, name="keys", no_args_is_help=True)
app.add_typer(events_app, name="events", no_args_is_help=True)
app.add_typer(import_app, name="import", no_args_is_help=True)


def main() -> None:
    app()


__all__ = ["app", "main"]
