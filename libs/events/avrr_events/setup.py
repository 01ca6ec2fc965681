"""Prepare ONE service's database and topics, then exit: ``python -m avrr_events.setup <service>``.

The deployment runs this before the service starts (the Helm chart's
pre-install/pre-upgrade Job, the ``init`` service of docker-compose.yml,
``make up``); a service refuses to start on a database it has not migrated.
It does, and nothing else:

- the schema migrations (``migrations.py``): the service's database upgraded
  to the head of the service's migration line (event store, outbox, inbox,
  checkpoints, idempotency keys, audit log, its read models), and the key
  store (``AVRR_KEYSTORE_URL``, else the service's own database) to the head
  of the key-store line. Idempotent: a database at head is left alone, and
  concurrent runs (several Jobs, replicas) wait for each other on an advisory
  lock instead of racing;
- the Kafka topics: the service's own, those of the services it observes, and
  its dead-letter topic, with ``AVRR_TOPIC_PARTITIONS`` partitions and
  ``AVRR_TOPIC_REPLICATION_FACTOR`` replicas (the services themselves create
  missing topics with one replica, which suits one broker only).

It reads the same environment as ``avrr_events.serve`` (``ServiceSettings``),
needs no master key and starts neither relay nor consumer. Kafka security
comes from ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_MECHANISM``,
``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD`` and ``KAFKA_SSL_CAFILE``
(see ``kafka_client_options``). Exit status 0 when everything exists; a
setting missing or malformed stops it first, exit status 1 and one line
naming the variable and the chart value that sets it (``environment.py``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from typing import Any

from avrr_events import environment, logs, migrations
from avrr_events.adapters.audit_anchor import anchor_topic_spec
from avrr_events.adapters.kafka import KafkaSettings, TopicSpec, ensure_topics, kafka_client_options
from avrr_events.consumer import dead_letter_topic
from avrr_events.env_settings import from_env
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import Service

log = logging.getLogger(__name__)


class SetupSettings(ServiceSettings):
    """``ServiceSettings`` plus what only topic creation needs."""

    topic_replication_factor: int = from_env(
        "topic_replication_factor",
        "AVRR_TOPIC_REPLICATION_FACTOR",
        1,
        "replicas of every topic created here (3 on a production cluster)",
        ge=1,
    )


def topic_specs(service: Service, settings: SetupSettings) -> list[TopicSpec]:
    """The topics a service's runtime uses: own, observed, dead letters, audit anchors,
    public ones (those with a parameter, one per country, are created when first published)."""
    replicas = settings.topic_replication_factor
    names = [settings.topic(service.name), *(settings.topic(o) for o in service.observes)]
    names += [settings.public_topic(c) for c in (service.public.static if service.public else ())]
    return [
        *(
            TopicSpec(name, partitions=settings.topic_partitions, replication_factor=replicas)
            for name in names
        ),
        TopicSpec(
            dead_letter_topic(settings.group(service.name)),
            partitions=1,
            replication_factor=replicas,
        ),
        anchor_topic_spec(settings.audit_topic(service.name), replicas),
    ]


async def prepare(
    service: Service,
    settings: SetupSettings,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Migrate the service's databases, create its topics; return the topic names."""
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is not set: nothing to prepare")
    await migrations.migrate(service, settings)
    log.info("%s: database and key store at the head revision", service.name)
    if settings.kafka_bootstrap_servers is None:
        log.info("%s: KAFKA_BOOTSTRAP_SERVERS not set, no topics created", service.name)
        return []
    specs = topic_specs(service, settings)
    options = kafka_client_options(environ)
    kafka = KafkaSettings(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_options=tuple(options.items()),
    )
    await ensure_topics(kafka, specs)
    log.info("%s: topics ready: %s", service.name, ", ".join(s.name for s in specs))
    return [s.name for s in specs]


def setup(
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    service_logs: bool = True,
    service: Service | None = None,
) -> list[str]:
    """Prepare one service, return its topics: ``python -m avrr_events.setup`` and ``avrr setup``.

    The environment check first (one line, exit status 1, before logging or
    connecting to anything), then pydantic's check of the settings, then the
    service's JSON logs (``service_logs``; the CLI keeps its terminal's) and
    ``prepare``. A database that predates the migrations, or a service without its
    own line, is a person's decision: one line, no traceback. ``overrides`` are
    settings given on the command line, checked as if they were in the environment;
    ``service`` one the caller found already (the CLI's, which tests extend).
    """
    from avrr_events.serve import environ_with, find

    given = dict(overrides or {})
    environment.exit_on_bad_settings("setup", name, environ_with(given))
    problem = environment.validation_problem(SetupSettings, name, **given)
    if problem is not None:
        environment.fail(problem)
    if service_logs:
        logs.configure(name)
    try:
        return asyncio.run(prepare(service or find(name), SetupSettings(**given)))
    except (migrations.PredatesMigrations, migrations.UnversionedService) as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m avrr_events.setup <service>")
    setup(args[0])


if __name__ == "__main__":
    main()
