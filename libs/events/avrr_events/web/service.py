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
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import MetaData, text

from avrr_events import audit, logs, migrations
from avrr_events.adapters.audit_anchor import (
    AnchorLog,
    AuditAnchoring,
    InProcessAnchorLog,
    KafkaAnchorLog,
    anchor_json,
    anchor_topic_spec,
)
from avrr_events.adapters.database import Database
from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.adapters.kafka import (
    KafkaPublisher,
    KafkaSettings,
    KafkaSource,
    TopicSpec,
    ensure_topics,
    kafka_client_options,
)
from avrr_events.asyncapi import asyncapi_document
from avrr_events.bus import Publisher
from avrr_events.consumer import EventConsumer, Reaction, dead_letter_topic
from avrr_events.metrics import ServiceMetrics
from avrr_events.offices import OfficeRegistry, load_offices
from avrr_events.outbox import OutboxRelay
from avrr_events.periodic import PeriodicJob
from avrr_events.personal import PersonalDataCipher, SqlKeyStore
from avrr_events.projections import Projection
from avrr_events.public import PublicRelay, PublicTopics
from avrr_events.registry import EventRegistry
from avrr_events.settings import ProcessRole, ServiceSettings
from avrr_events.store import EventStore
from avrr_events.web.auth import OidcAuthenticator, http_jwks_fetcher
from avrr_events.web.authorization import PUBLIC, Authorized, Policy, Role, allow, authorize
from avrr_events.web.http import (
    IdempotencyKeys,
    install_problem_handlers,
    problem_response,
)
from avrr_events.web.middleware import (
    CORS_REQUEST_HEADERS,
    CORS_RESPONSE_HEADERS,
    ExternalPrefix,
    ObservedRequests,
)
from avrr_events.web.routing import remember_route_matches
from avrr_events.web.telemetry import TELEMETRY

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
    # Who may call each route (avrr_events.web.authorization); None only for samples.
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
            client_options=tuple(kafka_client_options().items()),
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
        remember_route_matches()  # each request's route looked for once per router

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
            telemetry=TELEMETRY,  # explicit: no probes, no query strings, no messages
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
            after: Annotated[int, Query(ge=0, json_schema_extra={"maximum": 2**63 - 1})] = 0,
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


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime serving ``request`` (its app's, also under the embedded platform, where
    each service's app is its own): routes reach the database, store and cipher through it."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime
