"""Run ONE service as its own process: ``python -m avrr_events.serve <service>``.

The real stack runs each service in a process (or pod) of its own: its REST
API, its consumer and its outbox relay, configured by environment variables
(``ServiceSettings``: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, AVRR_KEYSTORE_URL,
AVRR_MASTER_KEY, ...). ``AVRR_HOST``/``AVRR_PORT`` choose where it listens.
"""

from __future__ import annotations

import logging
import os
import sys

from avrr_events.embedded import discover
from avrr_events.service import Service, ServiceSettings
from avrr_events.tracing import configure_exporter


def find(name: str) -> Service:
    """The installed service called ``name`` (entry point group ``avrr.services``)."""
    services = {s.name: s for s in discover()}
    if name not in services:
        known = ", ".join(sorted(services)) or "none"
        raise SystemExit(f"unknown service {name!r}; installed: {known}")
    return services[name]


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m avrr_events.serve <service>")
    logging.basicConfig(level=os.environ.get("AVRR_LOG_LEVEL", "INFO"))
    configure_exporter(args[0])
    app = find(args[0]).app(ServiceSettings())
    uvicorn.run(
        app,
        host=os.environ.get("AVRR_HOST", "127.0.0.1"),
        port=int(os.environ.get("AVRR_PORT", "8000")),
        log_level=os.environ.get("AVRR_LOG_LEVEL", "info").lower(),
    )


if __name__ == "__main__":
    main()
