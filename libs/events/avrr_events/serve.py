"""Run ONE service as its own process: ``python -m avrr_events.serve <service>``.

The real stack runs each service in a process (or pod) of its own: its REST
API, its consumer and its outbox relay, configured by environment variables
(``ServiceSettings``: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, AVRR_KEYSTORE_URL,
AVRR_MASTER_KEY, ...). ``AVRR_HOST``/``AVRR_PORT`` choose where it listens.

``--role api|worker`` (or ``AVRR_ROLE``) runs only part of it: the REST API,
or the consumer, relays and jobs (see ``service.py``); the chart's ``split``
topology runs one Deployment of each.

Before anything else it checks its environment (``environment.py``): a
setting missing or malformed stops it with exit status 1 and one line naming
the variable and the chart value that sets it. The runtime's modules are
imported only after that check.
"""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from avrr_events import environment
from avrr_events.env_settings import environment as process_environment
from avrr_events.env_settings import variable_of

if TYPE_CHECKING:
    from avrr_events.web.service import Service


def find(name: str) -> Service:
    """The installed service called ``name`` (entry point group ``avrr.services``)."""
    from avrr_events.web.embedded import discover

    services = {s.name: s for s in discover(name)}
    if name not in services:
        known = ", ".join(sorted(s.name for s in discover())) or "none"
        raise SystemExit(f"unknown service {name!r}; installed: {known}")
    return services[name]


def environ_with(overrides: Mapping[str, Any]) -> dict[str, str]:
    """The process's environment with settings given on a command line laid over it
    (``avrr --database-url``), under their variables' names, for the start-up check."""
    from avrr_events.settings import ServiceSettings

    environ = process_environment()
    for name, value in overrides.items():
        variable = variable_of(ServiceSettings.model_fields[name])
        assert variable is not None, f"{name} is not read from a variable"
        environ[variable] = str(value)
    return environ


def freeze_start_up() -> None:
    """Keep what start-up built out of the garbage collector's full collections.

    A service allocates for every event it consumes (records, envelopes, events)
    and so runs a full collection now and then; each walked the ~120,000 objects
    of the modules and the app built at start-up, none of them ever garbage:
    ~80 ms each, nine in a 100,000-event catch-up (issue 21, ``gc.callbacks``).
    After a collection, ``gc.freeze`` moves the survivors to a generation that
    is never collected; what is allocated later is collected as before.
    """
    gc.collect()
    gc.freeze()


def serve(
    name: str,
    *,
    role: str | None = None,
    host: str | None = None,
    port: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    service: Service | None = None,
) -> None:
    """Run one service in this process: ``python -m avrr_events.serve`` and ``avrr serve``.

    The environment check first (one line, exit status 1), then pydantic's check of
    the settings, then logging, tracing, the migration check and uvicorn. ``host``
    and ``port`` default to ``AVRR_HOST`` and ``AVRR_PORT``; ``overrides`` are
    settings given on the command line, checked as if they were in the environment;
    ``service`` one the caller found already (the CLI's, which tests extend).
    """
    given = dict(overrides or {})
    environment.exit_on_bad_settings("serve", name, environ_with(given), role=role)

    import uvicorn

    from avrr_events import logs
    from avrr_events.migrations import refuse_unless_current
    from avrr_events.settings import (
        RoleNotSupported,
        ServerSettings,
        ServiceSettings,
        UnsafeAuthentication,
    )
    from avrr_events.tracing import configure_exporter

    chosen = {**given, **({"role": role} if role else {})}
    where: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    for model, values in ((ServiceSettings, chosen), (ServerSettings, where)):
        problem = environment.validation_problem(model, name, **values)
        if problem is not None:  # what the table does not check, pydantic does: one line
            environment.fail(problem)
    server = ServerSettings(**where)
    logs.configure(name)  # JSON lines (AVRR_LOG_FORMAT=text for a terminal)
    configure_exporter(name)
    service = service or find(name)
    settings = ServiceSettings(**chosen)
    try:
        settings.check_role()  # api/worker need PostgreSQL and Kafka
        warning = settings.check_authentication()  # no header authentication on real data
    except (RoleNotSupported, UnsafeAuthentication) as exc:
        raise SystemExit(str(exc)) from None
    if warning:
        logging.getLogger("avrr_events.serve").warning(warning)
    refuse_unless_current(service, settings)  # exit 1 naming the revisions and `avrr setup`
    app = service.app(settings)
    freeze_start_up()
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        log_level=server.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through logs.configure's handler
        access_log=False,  # the service logs each request itself, in its trace
        timeout_keep_alive=server.keep_alive,  # see ServerSettings.keep_alive
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m avrr_events.serve")
    parser.add_argument("service")
    parser.add_argument("--role", choices=environment.ROLES, help="default: AVRR_ROLE, else all")
    args = parser.parse_args(argv)
    serve(args.service, role=args.role)


if __name__ == "__main__":
    main()
