"""What every ``avrr`` command shares: the root app and its global options (``Config``),
the installed services, failing with a message, progress bars, calls of intake's API.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import httpx
import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.exc import SQLAlchemyError

from avrr_events import logs
from avrr_events.adapters.kafka import (
    KafkaSettings,
    kafka_client_options,
)
from avrr_events.setup import SetupSettings
from avrr_events.web.service import Service

# Tables as wide as they need when the output is not a terminal (a file, a pipe, a test).
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    name="avrr",
    help="AVRR operations: serve, setup, rebuild read models, dead letters, erasure, demo data.",
    no_args_is_help=True,
    add_completion=False,
    # a traceback's locals may hold a database password or the master key
    pretty_exceptions_show_locals=False,
)


class CliError(Exception):
    """A failure to report in one line, exit status 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


# ------------------------------------------------------------ configuration --


@dataclass(frozen=True)
class Config:
    """The environment's settings with the global options laid over them."""

    overrides: tuple[tuple[str, Any], ...] = ()
    dead_letter_topic: str | None = None  # `avrr dead-letters --topic`

    def settings(self, **more: Any) -> SetupSettings:
        return SetupSettings(**dict(self.overrides), **more)

    def kafka(self) -> KafkaSettings:
        servers = self.settings().kafka_bootstrap_servers
        if not servers:
            fail("KAFKA_BOOTSTRAP_SERVERS is not set (or pass --kafka)")
        return KafkaSettings(
            bootstrap_servers=servers,
            client_options=tuple(kafka_client_options().items()),
        )

    def database_url(self) -> str:
        url = self.settings().database_url
        if not url:
            fail("DATABASE_URL is not set (or pass --database-url)")
        return url


def installed_services() -> list[Service]:
    """The installed services (a seam for tests, which add their own)."""
    from avrr_events.web.embedded import discover

    return discover()


def find_service(name: str) -> Service:
    services = {s.name: s for s in installed_services()}
    if name not in services:
        fail(f"unknown service {name!r}; installed: {', '.join(sorted(services)) or 'none'}")
    return services[name]


def config_of(ctx: typer.Context) -> Config:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Config) else Config()


def run(ctx: typer.Context, work: Callable[[Config], Any]) -> Any:
    """Run a command's (async) work; a CliError becomes one red line and exit status 1."""
    try:
        result = work(config_of(ctx))
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return result
    except CliError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except (KafkaError, SQLAlchemyError, OSError) as exc:
        # Unreachable brokers or database: one line, no traceback (whose locals hold URLs).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err.print(f"[red]error:[/red] {type(exc).__name__}: {first}", highlight=False)
        raise typer.Exit(1) from None


def overriding(flag: str, variable: str) -> Any:
    """A global option that overrides one environment variable of the services."""
    return typer.Option(flag, help=f"overrides {variable}")


@app.callback()
def configure(
    ctx: typer.Context,
    database_url: Annotated[str | None, overriding("--database-url", "DATABASE_URL")] = None,
    kafka: Annotated[str | None, overriding("--kafka", "KAFKA_BOOTSTRAP_SERVERS")] = None,
    keystore_url: Annotated[str | None, overriding("--keystore-url", "AVRR_KEYSTORE_URL")] = None,
    topic_prefix: Annotated[str | None, overriding("--topic-prefix", "AVRR_TOPIC_PREFIX")] = None,
) -> None:
    """Settings come from the services' environment variables; these options override them."""
    # Library warnings as JSON lines on stderr like every process's (the output stays rich).
    level = logs.LogSettings().avrr_log_level
    logs.configure("cli", level="WARNING" if level is None else level)
    given = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "keystore_url": keystore_url,
        "topic_prefix": topic_prefix,
    }
    ctx.obj = Config(tuple((k, v) for k, v in given.items() if v is not None))


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def auth_headers(token: str | None, user: str, roles: str, offices: str | None) -> dict[str, str]:
    """A bearer token when given, else the development headers (AVRR_DEV_AUTH services only)."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    headers = {"X-AVRR-User": user, "X-AVRR-Roles": roles}
    if offices:
        headers["X-AVRR-Offices"] = offices
    return headers


Token = Annotated[
    str | None,
    typer.Option("--token", envvar="AVRR_TOKEN", help="OIDC bearer token (else dev headers)"),
]
DevUser = Annotated[str, typer.Option("--user", help="X-AVRR-User when no token")]
ServiceArg = Annotated[str, typer.Argument(help="an installed service")]
AsJson = Annotated[bool, typer.Option("--json", help="one JSON object per line")]


def problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)
