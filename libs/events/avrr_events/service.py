"""The service runtime: one object that wires a service's domain to the shared machinery.

A service module declares *what* it is (``Service``: name, event registry,
reactions, projections, read-model tables, the other services whose events it
observes, a FastAPI router). ``ServiceRuntime`` decides *how* it runs, from
settings only: PostgreSQL or SQLite, Kafka or the in-process bus, where the
personal-data keys live. At start-up it checks that its databases are
migrated (``migrations.py``: it refuses to start otherwise; only the embedded
default migrates them itself) and creates missing topics, runs the outbox
relay and the consumer as background tasks in the FastAPI lifespan and stops
them cleanly. The same service code therefore runs in the embedded default
and on the real stack.

A process has a role (``AVRR_ROLE``): ``all`` (the default, and the only one
of the embedded default) does everything; ``api`` serves the REST API and
runs no background task (its appends wait in the outbox, and PostgreSQL's
NOTIFY wakes a worker's relay in another process); ``worker`` runs the relay,
the consumer, the public relay and the periodic jobs and serves only
``/health/*`` and ``/metrics``. Split roles scale the two independently
(consumers are worth at most one per partition, API replicas are not).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import MetaData, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from avrr_events import audit, environment, logs, migrations
from avrr_events.asyncapi import asyncapi_document
from avrr_events.audit_anchor import (
    AnchorLog,
    AuditAnchoring,
    InProcessAnchorLog,
    KafkaAnchorLog,
    anchor_json,
    anchor_topic_spec,
)
from avrr_events.auth import OidcAuthenticator, http_jwks_fetcher
from avrr_events.authorization import (
    PUBLIC,
    Authorized,
    Policy,
    Role,
    Rule,
    allow,
    authorize,
)
from avrr_events.bus import Publisher
from avrr_events.consumer import EventConsumer, Reaction, dead_letter_topic
from avrr_events.database import Database
from avrr_events.http import (
    IdempotencyKeys,
    install_problem_handlers,
    problem_response,
    unavailable_response,
)
from avrr_events.inprocess import InProcessBus
from avrr_events.kafka import (
    KafkaPublisher,
    KafkaSettings,
    KafkaSource,
    TopicSpec,
    ensure_topics,
    kafka_client_options,
)
from avrr_events.metrics import ServiceMetrics
from avrr_events.offices import OfficeRegistry, load_offices
from avrr_events.outbox import OutboxRelay
from avrr_events.periodic import PeriodicJob
from avrr_events.personal import MasterKey, PersonalDataCipher, SqlKeyStore
from avrr_events.projections import Projection
from avrr_events.public import PublicRelay, PublicTopics
from avrr_events.registry import EventRegistry
from avrr_events.store import EventStore
from avrr_events.tracing import request_from_caller

log = logging.getLogger(__name__)

# The routes every service app has: probes, metrics and the published schemas
# are public (the network keeps /metrics to the scraper); the audit log is
# for auditors. OpenAPI and its viewers describe the API, they hold no data.
OPERATIONS_POLICY = Policy(
    {
        "GET /health/live": PUBLIC,
        "GET /health/ready": PUBLIC,
        "GET /metrics": PUBLIC,
        "GET /asyncapi.json": PUBLIC,
        "GET /events/schemas": PUBLIC,
        "GET /audit": allow(Role.AUDITOR),
        "GET /audit/verification": allow(Role.AUDITOR),
        "GET /openapi.json": PUBLIC,
        "GET /docs": PUBLIC,
        "GET /docs/oauth2-redirect": PUBLIC,
        "GET /redoc": PUBLIC,
    }
)


ProcessRole = Literal["all", "api", "worker"]
ROLES: tuple[ProcessRole, ...] = ("all", "api", "worker")


class RoleNotSupported(ValueError):
    """A split role asked of a runtime that cannot share its work with other processes."""


class UnsafeAuthentication(ValueError):
    """Header authentication asked of a process that shows signs of production."""


class ServiceSettings(BaseSettings):
    """How one service runs, from environment variables (names in ``validation_alias``)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("database_url", "DATABASE_URL"),
        description="SQLAlchemy async URL; absent: SQLite in ./.avrr-data/<service>.db",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS"),
        description="absent: the in-process bus (embedded default)",
    )
    keystore_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("keystore_url", "AVRR_KEYSTORE_URL"),
        description="database of the per-person keys; absent: the service's own database",
    )
    master_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("master_key", "AVRR_MASTER_KEY"),
        description="base64 32-byte key-encryption key",
        repr=False,
    )
    audit_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("audit_key", "AVRR_AUDIT_KEY"),
        description=(
            "base64 key (at least 32 bytes) of the audit log's HMAC chain, kept out of "
            "the database; absent: derived from the master key"
        ),
        repr=False,
    )
    audit_anchor_interval: float = Field(
        default=60.0,
        gt=0,
        validation_alias=AliasChoices("audit_anchor_interval", "AVRR_AUDIT_ANCHOR_INTERVAL"),
        description="seconds between two publications of the audit chain's head",
    )
    dev: bool = Field(
        default=False,
        validation_alias=AliasChoices("dev", "AVRR_DEV"),
        description="development mode: allows the fixed development master key",
    )
    dev_auth: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("dev_auth", "AVRR_DEV_AUTH"),
        description="header authentication stand-in; absent: on exactly when dev is on",
    )
    dev_auth_override: bool = Field(
        default=False,
        validation_alias=AliasChoices("dev_auth_override", "AVRR_DEV_AUTH_OVERRIDE"),
        description=(
            "allow header authentication although a production sign is present "
            "(local development on PostgreSQL only; warned at every start)"
        ),
    )
    oidc_issuer: str | None = Field(
        default=None,
        validation_alias=AliasChoices("oidc_issuer", "AVRR_OIDC_ISSUER"),
        description="OIDC issuer whose bearer tokens are accepted",
    )
    oidc_audience: str = Field(
        default="avrr", validation_alias=AliasChoices("oidc_audience", "AVRR_OIDC_AUDIENCE")
    )
    oidc_jwks_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("oidc_jwks_url", "AVRR_OIDC_JWKS_URL"),
        description="absent: discovered from the issuer's openid-configuration",
    )
    topic_prefix: str = Field(
        default="avrr",
        validation_alias=AliasChoices("topic_prefix", "AVRR_TOPIC_PREFIX"),
        description="topics are <prefix>.<service>.events, the group <prefix>.<service>",
    )
    topic_partitions: int = Field(
        default=6, validation_alias=AliasChoices("topic_partitions", "AVRR_TOPIC_PARTITIONS")
    )
    relay_poll_interval: float = Field(
        default=1.0, validation_alias=AliasChoices("relay_poll_interval", "AVRR_RELAY_POLL")
    )
    role: ProcessRole = Field(
        default="all",
        validation_alias=AliasChoices("role", "AVRR_ROLE"),
        description=(
            "all: API, consumer, relays and jobs in one process; api: the REST API only; "
            "worker: consumer, relays and jobs, serving only /health/* and /metrics"
        ),
    )
    offices_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("offices_file", "AVRR_OFFICES"),
        description="YAML office registry (the same for every service); absent: the packaged one",
    )
    cors_origins: str = Field(
        default="",
        validation_alias=AliasChoices("cors_origins", "AVRR_CORS_ORIGINS"),
        description=(
            "comma-separated origins of the frontends allowed to call this API from a "
            "browser (credentials included); empty: no cross-origin calls"
        ),
    )
    path_prefix: str = Field(
        default="",
        pattern=r"^(/[a-z0-9-]+)?$",
        validation_alias=AliasChoices("path_prefix", "AVRR_PATH_PREFIX"),
        description=(
            "the path under which an Ingress or HTTPRoute exposes this service (/intake); "
            "requests under it are served without it, probes and metrics never"
        ),
    )
    migrate_on_start: bool = Field(
        default=False,
        validation_alias=AliasChoices("migrate_on_start", "AVRR_MIGRATE_ON_START"),
        description=(
            "upgrade the databases to the head revision at start-up (the embedded default); "
            "otherwise a database that is not at head stops the start (run `avrr setup` first)"
        ),
    )

    @property
    def dev_auth_enabled(self) -> bool:
        return self.dev if self.dev_auth is None else self.dev_auth

    def topic(self, service: str) -> str:
        return f"{self.topic_prefix}.{service}.events"

    def check_role(self) -> None:
        """Refuse a split role without PostgreSQL and Kafka: an ``api`` process's events
        reach a ``worker`` only through a shared outbox (and its NOTIFY) and a shared bus;
        SQLite and the in-process bus are one process's own."""
        if self.role == "all":
            return
        missing = [
            what
            for what, present in (
                ("DATABASE_URL on PostgreSQL", (self.database_url or "").startswith("postgresql")),
                ("KAFKA_BOOTSTRAP_SERVERS", bool(self.kafka_bootstrap_servers)),
            )
            if not present
        ]
        if missing:
            raise RoleNotSupported(
                f"AVRR_ROLE={self.role} needs {' and '.join(missing)}: api and worker "
                "processes share the outbox and the topics; the embedded default "
                "(SQLite, in-process bus) runs every role in one process (AVRR_ROLE=all)"
            )

    def production_signs(self) -> list[str]:
        """What says this process may hold real data: a PostgreSQL database, an OIDC issuer."""
        signs = []
        if (self.database_url or "").startswith("postgresql"):
            signs.append("DATABASE_URL is PostgreSQL")
        if self.oidc_issuer:
            signs.append("AVRR_OIDC_ISSUER is set")
        return signs

    def check_authentication(self) -> str | None:
        """Refuse header authentication where real data may be; the override's warning, if any.

        Header authentication trusts whatever identity a caller claims. It is
        for the embedded default and tests; a process on PostgreSQL or with an
        OIDC issuer refuses it unless ``AVRR_DEV_AUTH_OVERRIDE=1`` says this is
        local development, and then says so at every start.
        """
        if not self.dev_auth_enabled:
            return None
        signs = self.production_signs()
        if not signs:
            return None
        which = " and ".join(signs)
        if not self.dev_auth_override:
            raise UnsafeAuthentication(
                f"AVRR_DEV_AUTH: header authentication (AVRR_DEV=1 or AVRR_DEV_AUTH=1) is refused "
                f"because {which}; unset it (chart: config.dev and config.devAuth stay false), "
                "or set AVRR_DEV_AUTH_OVERRIDE=1 for local development only"
            )
        return (
            f"AVRR_DEV_AUTH_OVERRIDE=1: header authentication is ON although {which}: "
            "any caller can claim any identity; never with real data"
        )

    def group(self, service: str) -> str:
        return f"{self.topic_prefix}.{service}"

    def public_topic(self, channel: str) -> str:
        """A public integration topic: ``<prefix>.public.<channel>`` (see public.py)."""
        return f"{self.topic_prefix}.public.{channel}"

    def audit_topic(self, service: str) -> str:
        """Where the service's audit chain heads are anchored (audit_anchor.py)."""
        return f"{self.topic_prefix}.audit.{service}"

    def audit_secret(self) -> bytes:
        """The audit chain's HMAC key: ``AVRR_AUDIT_KEY``, else derived from the master key.

        Either way it comes from the service's secrets, never from its
        database. A separate ``AVRR_AUDIT_KEY`` lets the audit key be held
        apart from the key of personal data; without it the master key (or,
        only with AVRR_DEV=1, the development key) is stretched into one
        (HKDF-SHA256), so a deployment needs no new secret.
        """
        if self.audit_key:
            key = environment.checked("AVRR_AUDIT_KEY", self.audit_key)
            return audit.check_key(base64.b64decode(key, validate=True))
        if self.master_key:
            return audit.derive_key(self._master_key_bytes())
        if self.dev:
            return audit.DEV_AUDIT_KEY
        # Neither key: the master key is the one a deployment must have.
        raise environment.SettingsError.missing("AVRR_MASTER_KEY")

    def master(self) -> MasterKey:
        """The key-encryption key; the fixed development one only with AVRR_DEV=1.

        Missing or malformed: the same one-line SettingsError as at start-up
        (``environment.py``), naming the chart value that sets it."""
        if self.master_key:
            return MasterKey(self._master_key_bytes())
        if self.dev:
            return MasterKey.from_env("AVRR_MASTER_KEY", allow_dev=True)
        raise environment.SettingsError.missing("AVRR_MASTER_KEY")

    def _master_key_bytes(self) -> bytes:
        assert self.master_key is not None
        return base64.b64decode(environment.checked("AVRR_MASTER_KEY", self.master_key))


@dataclass
class Service:
    """What a service is: its domain, declared once; the runtime supplies the infrastructure.

    ``projections`` is a factory because read models may need the runtime (for
    instance its cipher, to index a keyed hash kept inside encrypted data).
    ``observes`` names the other services whose topics it consumes.
    ``jobs`` builds its periodic jobs (``periodic.py``: intake's retention
    sweep), run like the relay by one replica at a time.
    ``commands`` builds the service's command object once per runtime: routes
    reach it through ``ServiceRuntime.commands``, reactions through their
    ``HandlerContext.commands``.
    ``migrations`` is the folder of its Alembic revisions (``<folder>/versions``,
    see ``migrations.py``); a service without one (a library test's sample)
    gets its tables created from ``read_models`` at start-up instead.
    """

    name: str
    registry: EventRegistry
    router: APIRouter
    projections: Callable[[ServiceRuntime], Sequence[Projection]] = lambda _rt: ()
    reactions: Mapping[str, Sequence[Reaction]] = field(default_factory=dict)
    read_models: Sequence[MetaData] = ()
    observes: Sequence[str] = ()
    jobs: Callable[[ServiceRuntime], Sequence[PeriodicJob]] = lambda _rt: ()
    commands: Callable[[ServiceRuntime], Any] | None = None
    migrations: Path | None = None
    public: PublicTopics | None = None  # topics for government subscribers (public.py)
    # Who may call each route (avrr_events.authorization); None only for samples.
    policy: Policy | None = None
    title: str = ""
    description: str = ""
    version: str = "0.1.0"

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of its events."""
        return f"/avrr/{self.name}"

    def app(
        self, settings: ServiceSettings | None = None, *, bus: InProcessBus | None = None
    ) -> FastAPI:
        """A standalone app (lifespan runs the runtime); settings default to the environment."""
        return ServiceRuntime(self, settings or ServiceSettings(), bus=bus).app()


# What a browser frontend may send and read across origins (ARCHITECTURE §6).
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "Idempotency-Key",
    "traceparent",
    "Accept-Language",
)
CORS_RESPONSE_HEADERS = ("ETag", "Location", "Retry-After", "Idempotency-Replayed")


class ExternalPrefix:
    """Serve ``/<prefix>/...`` as ``/...``: one host, a path per service, no proxy rewrites.

    An Ingress or Gateway route sends ``/intake/cases`` to intake's Service as
    it is; the embedded default mounts the same paths. Probes and metrics stay
    reachable only without the prefix (from the kubelet and the scraper, inside
    the cluster), so nothing routed from outside ever reaches them.
    """

    INTERNAL = ("/health", "/metrics")

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            inner = path[len(self.prefix) :] or "/"
            if inner.startswith(self.INTERNAL):
                response = problem_response(404, "Not Found", "not served through the gateway")
                await response(scope, receive, send)
                return
            # As a Mount does: the path keeps the prefix, the root path names it.
            scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
        await self.app(scope, receive, send)


class ObservedRequests:
    """Time and log every request; audit every read and write of personal data.

    Audited: every request of a route about one case (a ``case_id`` in its
    path), and of a route whose rule is scoped to offices, to the caller's own
    records or to a check of the route's own (``office``, ``own``,
    ``handler``: lists of cases such as queues, departures, manifests and
    overdue lists; a referral that opens a case).
    A list's entry names no case; a write that created one names the case id
    of its response. The response is held back until its audit entry is
    durable: a read that cannot be audited is answered 503, never delivered
    unaudited. Plain ASGI rather than ``@app.middleware("http")``: Starlette's
    BaseHTTPMiddleware runs the rest of the app in another task behind memory
    streams, a cost every request paid. (Server spans come from FastAPI's own
    OpenTelemetry instrumentation; a command continues its case's trace unless
    the caller sent one.)
    """

    def __init__(self, app: ASGIApp, runtime: ServiceRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        status = 500
        held: list[Message] = []

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self._audited(scope) is not None:
                    held.append(message)
                    return
            elif held:
                held.append(message)
                if message.get("more_body", False):
                    return
                await self._audit_then_send(scope, status, held, send)
                held.clear()
                return
            await send(message)

        with (
            logs.service_context(self.runtime.name),
            request_from_caller(_header(scope, b"traceparent")),
        ):
            await self.app(scope, receive, observed_send)
            template = getattr(scope.get("route"), "path", "unmatched")
            if not template.startswith(("/health", "/metrics")):
                # The route's template, not the path: no ids, no query string.
                log.info(
                    "%s %s %d",
                    method,
                    template,
                    status,
                    extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)},
                )
        self.runtime.metrics.observe_request(method, template, status, started)

    @staticmethod
    def _audited(scope: Scope) -> tuple[str | None, Any] | None:
        """(case id or None, principal) when this request touches personal data, else None."""
        principal = scope.get("state", {}).get("principal")
        if principal is None:
            return None
        case_id = scope.get("path_params", {}).get("case_id")
        if case_id is not None:
            return str(case_id), principal
        app = scope.get("app")
        policy: Policy | None = getattr(getattr(app, "state", None), "policy", None)
        template = getattr(scope.get("route"), "path", None)
        if policy is None or template is None:
            return None
        rule = policy.rule(scope["method"], template)
        return (None, principal) if rule is not None and audited_route(template, rule) else None

    async def _audit_then_send(
        self, scope: Scope, status: int, held: list[Message], send: Send
    ) -> None:
        audited = self._audited(scope)
        assert audited is not None
        case_id, principal = audited
        if case_id is None and scope["method"] not in ("GET", "HEAD"):
            case_id = _created_case(held)
        method = scope["method"]
        template = getattr(scope.get("route"), "path", "unmatched")
        client = scope.get("client")
        try:
            await self.runtime.audit.record(
                actor=principal.user_id,
                action="read" if method in ("GET", "HEAD") else "write",
                route=f"{method} {template}",
                outcome=status,
                case_id=case_id,
                client=client[0] if client else None,
            )
        except Exception as exc:
            log.error("audit entry not recorded: %s", logs.error_text(exc))
            refusal = unavailable_response("the access could not be audited; try again")
            await refusal(scope, _no_body, send)
            return
        for message in held:
            await send(message)


def audited_route(template: str, rule: Rule) -> bool:
    """Whether calls of a route are audited: it is about one case (``{case_id}``), or its
    rule reaches into offices' cases (lists), the caller's own records or a check of the
    route's own (a referral that opens a case, a disclosure key)."""
    return "{case_id}" in template or rule.scope in ("office", "own", "handler")


def _created_case(held: list[Message]) -> str | None:
    """The ``case_id`` of a JSON object response (a command that opened a case), if any."""
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    if not body.startswith(b"{"):
        return None
    with contextlib.suppress(ValueError):
        found = json.loads(body).get("case_id")
        if isinstance(found, str):
            return found
    return None


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class ServiceRuntime:
    """One running service: database, store, relay, consumer, cipher, REST app."""

    def __init__(
        self, service: Service, settings: ServiceSettings, *, bus: InProcessBus | None = None
    ) -> None:
        settings.check_role()
        self.service = service
        self.settings = settings
        self.name = service.name
        self.role: ProcessRole = settings.role
        self.topic = settings.topic(service.name)
        self.group = settings.group(service.name)
        self.topics = [self.topic, *(settings.topic(o) for o in service.observes)]
        if settings.kafka_bootstrap_servers is None and bus is None:
            bus = InProcessBus()
        self.bus = None if settings.kafka_bootstrap_servers else bus
        if settings.database_url is None:
            Path(".avrr-data").mkdir(exist_ok=True)
        self.db = Database(
            settings.database_url or f"sqlite+aiosqlite:///.avrr-data/{self.name}.db"
        )
        self.keys_db = (
            Database(settings.keystore_url)
            if settings.keystore_url and settings.keystore_url != settings.database_url
            else self.db
        )
        self.cipher = PersonalDataCipher(SqlKeyStore(self.keys_db, settings.master()))
        # Before the projections: the hand-over read models consult it.
        self.offices: OfficeRegistry = load_offices(settings.offices_file)
        self.store = EventStore(self.db, self.topic)
        self.idempotency = IdempotencyKeys(self.db)
        self.audit = audit.AuditLog(self.db, settings.audit_secret())
        self.audit_anchors: AnchorLog = (
            InProcessAnchorLog(self.bus, settings.audit_topic(self.name), self.name)
            if self.bus is not None
            else KafkaAnchorLog(self._kafka(), settings.audit_topic(self.name), self.name)
        )
        self.audit_anchoring = AuditAnchoring(self.audit, self.audit_anchors)
        self.projections = list(service.projections(self))
        self.relay = OutboxRelay(
            self.db,
            self._publisher(),
            name=f"outbox-relay:{self.name}",
            poll_interval=settings.relay_poll_interval,
        )
        self.consumer = EventConsumer(
            db=self.db,
            source=self._source(),
            registry=service.registry,
            group=self.group,
            dead_letters=self._publisher(),
            reactions=service.reactions,
            projections=self.projections,
            store=self.store,
            cipher=self.cipher,
            own_topic=self.topic,
            commands=lambda: self.commands,
        )
        self.public_relay = (
            PublicRelay(
                self.db,
                self._publisher(),
                service.public.renderer(self),
                topic_of=settings.public_topic,
                ensure_topics=None if self.bus is not None else self._ensure_public_topics,
                name=f"public-relay:{self.name}",
                poll_interval=settings.relay_poll_interval,
            )
            if service.public is not None
            else None
        )
        self.metrics = ServiceMetrics(self)
        self.jobs = list(service.jobs(self))  # after the metrics: a job may add its own
        self.jobs.append(
            PeriodicJob(
                self.db,
                "audit-anchor",
                self.audit_anchoring.anchor_once,
                interval=settings.audit_anchor_interval,
            )
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    def _kafka(self) -> KafkaSettings:
        assert self.settings.kafka_bootstrap_servers is not None
        # SASL/TLS come from KAFKA_SECURITY_PROTOCOL and friends, as for the setup Job.
        return KafkaSettings(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            client_options=tuple(kafka_client_options(os.environ).items()),
        )

    def _publisher(self) -> Publisher:
        if self.bus is not None:
            return self.bus.publisher()
        return KafkaPublisher(self._kafka())

    async def _ensure_public_topics(self, topics: Iterable[str]) -> None:
        n = self.settings.topic_partitions
        await ensure_topics(self._kafka(), [TopicSpec(t, partitions=n) for t in topics])

    def _source(self) -> Any:
        if self.bus is not None:
            return self.bus.source(self.group, self.topics)
        return KafkaSource(self._kafka(), self.group, self.topics)

    @property
    def runs_workers(self) -> bool:
        """Whether this process runs the relays, the consumer and the periodic jobs."""
        return self.role != "api"

    async def start(self) -> None:
        """Check (or apply) the schema, create topics, run the relay and the consumer.

        An ``api`` process does only the first: it never talks to Kafka (the
        setup Job and the workers create the topics)."""
        await self._schema()
        if not self.runs_workers:
            self.started = True
            log.info("%s started (role api): events go through the outbox", self.name)
            return
        if self.bus is None:
            n = self.settings.topic_partitions
            await ensure_topics(
                self._kafka(),
                [
                    *(TopicSpec(t, partitions=n) for t in self.topics),
                    TopicSpec(dead_letter_topic(self.group), partitions=1),
                    anchor_topic_spec(self.settings.audit_topic(self.name)),
                    *(
                        TopicSpec(self.settings.public_topic(c), partitions=n)
                        for c in (self.service.public.static if self.service.public else ())
                    ),
                ],
            )
        self._tasks = [
            asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"),
            asyncio.create_task(self.consumer.run(), name=f"{self.name}-consumer"),
        ]
        if self.public_relay is not None:
            self._tasks.append(
                asyncio.create_task(self.public_relay.run(), name=f"{self.name}-public-relay")
            )
        self._tasks.extend(
            asyncio.create_task(job.run(), name=f"{self.name}-job-{job.name}") for job in self.jobs
        )
        self.started = True
        log.info(
            "%s started (role %s): topic %s, group %s", self.name, self.role, self.topic, self.group
        )

    async def _schema(self) -> None:
        """Refuse to start on a database that is not at the head revision.

        Production databases are migrated by the setup Job (``avrr setup``)
        before new replicas start; a replica never changes the schema under the
        others' feet. The embedded default (and a service run without
        DATABASE_URL, on its local SQLite file) migrates itself: a convenience
        for one developer, one process.
        """
        if self.settings.migrate_on_start or self.settings.database_url is None:
            await migrations.apply(self.service, self.db, self.keys_db)
        elif migrations.service_line(self.service) is None:
            # A library test's sample: no history to check against, tables from its metadata.
            await migrations.apply(self.service, self.db, self.keys_db)
        else:
            await migrations.verify(self.service, self.db, self.keys_db)

    async def stop(self) -> None:
        """Stop the background tasks, the bus clients and the database pools."""
        self.relay.stop()
        self.consumer.stop()
        for job in self.jobs:
            job.stop()
        if self.public_relay is not None:
            self.public_relay.stop()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception as exc:
                log.warning("%s: background task %s ended with %s", self.name, task.get_name(), exc)
        self._tasks.clear()
        publishers = [self.relay.publisher, self.consumer.dead_letters]
        if self.public_relay is not None:
            publishers.append(self.public_relay.publisher)
        for publisher in publishers:
            await publisher.stop()
        await self.audit_anchors.stop()
        if self.keys_db is not self.db:
            await self.keys_db.dispose()
        await self.db.dispose()
        self.started = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ServiceRuntime]:
        with logs.service_context(self.name):  # its background tasks log as this service's
            await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def app(self, *, lifespan: bool = True) -> FastAPI:
        """The service's FastAPI app; with ``lifespan`` it starts and stops this runtime.

        A ``worker`` process's app has only the probes and the metrics: no
        domain route, no audit log, no OpenAPI (its pods sit behind no Service).
        """
        worker = self.role == "worker"

        @contextlib.asynccontextmanager
        async def run(_app: FastAPI) -> AsyncIterator[None]:
            async with self.running():
                yield

        app = FastAPI(
            title=self.service.title or f"AVRR {self.name}",
            description=self.service.description,
            version=self.service.version,
            lifespan=run if lifespan else None,
            dependencies=[Depends(authorize)],
            openapi_url=None if worker else "/openapi.json",
        )
        app.state.runtime = self
        policy = self.service.policy
        app.state.policy = (
            policy.merged(OPERATIONS_POLICY)
            if policy is not None
            else dataclasses.replace(OPERATIONS_POLICY, deny_unruled=False)
        )
        app.state.dev_auth = self.settings.dev_auth_enabled
        if self.settings.oidc_issuer:
            app.state.authenticator = OidcAuthenticator(
                issuer=self.settings.oidc_issuer,
                audience=self.settings.oidc_audience,
                fetch_jwks=http_jwks_fetcher(
                    self.settings.oidc_issuer, self.settings.oidc_jwks_url
                ),
            )
        install_problem_handlers(app)
        app.include_router(self._probes_router())
        if not worker:
            app.include_router(self.service.router)
            app.include_router(self._operations_router())

        app.add_middleware(ObservedRequests, runtime=self)
        if self.settings.path_prefix:
            app.add_middleware(ExternalPrefix, prefix=self.settings.path_prefix)
        origins = [o.strip() for o in self.settings.cors_origins.split(",") if o.strip()]
        if origins:
            # Outermost: a preflight is answered before authentication, and only the
            # listed origins are echoed back (so only they may send credentials).
            app.add_middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_credentials=True,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=list(CORS_REQUEST_HEADERS),
                expose_headers=list(CORS_RESPONSE_HEADERS),
                max_age=600,
            )
        return app

    @property
    def commands(self) -> Any:
        """The service's command object (``Service.commands``), built on first use."""
        built = getattr(self, "_commands", None)
        if built is None and self.service.commands is not None:
            built = self._commands = self.service.commands(self)
        return built

    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI document of the topics this service writes, reads and dead-letters."""
        return asyncapi_document(
            self.name,
            self.service.registry,
            topic_of=self.settings.topic,
            observes=self.service.observes,
            dead_letter_topic=dead_letter_topic(self.group),
            audit_topic=self.settings.audit_topic(self.name),
            public=self.service.public.channels if self.service.public else (),
            public_topic_of=self.settings.public_topic,
            kafka_host=self.settings.kafka_bootstrap_servers or "localhost:9092",
            version=self.service.version,
        )

    def _probes_router(self) -> APIRouter:
        """Liveness, readiness and metrics: what every role serves."""
        router = APIRouter(tags=["operations"])

        @router.get("/health/live")
        async def live() -> dict[str, str]:
            return {"status": "ok"}

        @router.get("/health/ready")
        async def ready() -> JSONResponse:
            """200 only when this replica can do its work: started, database answering,
            Kafka answering (when the service runs on Kafka), relay and consumer alive
            (a dead background task is a reason to restart).

            An ``api`` replica checks only that it started and its database answers:
            it never talks to Kafka, and a command it accepts while Kafka is down is
            safe in the outbox, published by a worker once Kafka is back."""
            checks = {"started": self.started, "database": False}
            with contextlib.suppress(Exception):
                async with self.db.engine.connect() as conn:
                    checks["database"] = await conn.scalar(text("SELECT 1")) == 1
            if self.runs_workers:
                if isinstance(self.relay.publisher, KafkaPublisher):
                    checks["kafka"] = await self.relay.publisher.reachable()
                checks["workers"] = bool(self._tasks) and not any(t.done() for t in self._tasks)
            ok = all(checks.values())
            return JSONResponse(
                {"status": "ok" if ok else "unavailable", "service": self.name, "checks": checks},
                status_code=200 if ok else 503,
            )

        @router.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(await self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

        return router

    def _operations_router(self) -> APIRouter:
        """The audit log and the published schemas: served with the REST API."""
        router = APIRouter(tags=["operations"])

        @router.get("/audit", summary="Audit entries (auditors only)")
        async def audit_entries(
            _auditor: Authorized,
            case_id: str | None = None,
            after: Annotated[int, Query(ge=0)] = 0,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        ) -> list[dict[str, Any]]:
            entries = await self.audit.entries(case_id=case_id, after=after, limit=limit)
            return [dataclasses.asdict(e) for e in entries]

        @router.get("/audit/verification", summary="Check the audit hash chain (auditors only)")
        async def audit_verification(
            _auditor: Authorized,
        ) -> Any:
            """The keyed chain walked from its start and compared with its latest anchor.

            ``first_broken_entry``: the first entry that does not follow under the
            key (edited, or hashes recomputed without it); ``truncated``: the
            anchored entry is gone (the last entries were deleted);
            ``anchor_mismatch``: the anchored entry now has another hash. 503 when
            the anchors cannot be read: a verdict without them would miss a
            truncation.
            """
            try:
                anchor = await self.audit_anchors.latest()
            except Exception as exc:
                log.error("audit anchors not readable: %s", logs.error_text(exc))
                return problem_response(
                    503, "Service Unavailable", "the audit anchors could not be read; try again"
                )
            found = await self.audit.verify(anchor)
            return {
                "intact": found.intact,
                "first_broken_entry": found.first_broken_entry,
                "last_entry": found.last_entry,
                "anchor": anchor_json(found.anchor),
                "truncated": found.truncated,
                "anchor_mismatch": found.anchor_mismatch,
            }

        @router.get("/asyncapi.json", summary="AsyncAPI 3 document of this service's topics")
        async def asyncapi() -> dict[str, Any]:
            return self.asyncapi()

        @router.get("/events/schemas")
        async def schemas() -> dict[str, dict[str, Any]]:
            """JSON Schema of every event type this service writes or reads, public ones too."""
            schemas = self.service.registry.json_schemas()
            if self.service.public is not None:
                schemas.update(EventRegistry(self.service.public.events).json_schemas())
            return schemas

        return router
