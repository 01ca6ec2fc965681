"""Prometheus metrics of one service runtime, served on ``/metrics``.

Series (every one labelled with ``service``):
- ``avrr_http_request_duration_seconds{method,route,status}`` (histogram)
- ``avrr_events_appended_total{type}``: events written by this service
- ``avrr_outbox_backlog`` and ``avrr_outbox_oldest_age_seconds``: what the relay owes Kafka
- ``avrr_outbox_set_aside``: outbox rows set aside because the bus refused them for their
  size (they stay in the outbox with their reason, ``avrr outbox set-aside`` lists them),
  and ``avrr_outbox_records_set_aside_total``: how many this replica's relay set aside
- ``avrr_events_published_total``: records the relay got acknowledged
- ``avrr_consumer_lag{topic,partition}``: records not yet consumed
- ``avrr_consumer_batch_duration_seconds`` (histogram): handling latency per batch
- ``avrr_events_consumed_total``, ``avrr_events_duplicate_total``, ``avrr_consumer_retries_total``
- ``avrr_dead_letters_total{reason}``
- ``avrr_job_runs_total{job}``, ``avrr_job_failures_total{job}``, ``avrr_job_items_total{job}``,
  ``avrr_job_last_success_timestamp_seconds{job}``, ``avrr_job_leader{job}`` (1 on the
  replica that runs it): the periodic jobs (periodic.py), e.g. intake's retention sweep
- ``avrr_public_backlog``, ``avrr_public_published_total``, ``avrr_public_withheld_total``,
  ``avrr_public_unrenderable_total``: the public integration topics (public.py), for a
  service that has them; withheld = no consent (any more) or too few to publish

Each runtime has a registry of its own (the embedded default runs four in one
process). Values that need I/O (backlog, lag) are refreshed when scraped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from avrr_events import tables
from avrr_events.latency import BUCKETS
from avrr_events.public import public_outbox

if TYPE_CHECKING:
    from avrr_events.adapters.database import Database
    from avrr_events.consumer import EventConsumer
    from avrr_events.outbox import OutboxRelay
    from avrr_events.store import EventStore


class Measured(Protocol):
    """What the metrics read of a running service (``web.service.ServiceRuntime``): a
    protocol, so that the runtime imports the metrics and not the other way round."""

    name: str
    db: Database
    store: EventStore
    relay: OutboxRelay
    consumer: EventConsumer


class _RuntimeCollector(Collector):
    def __init__(self, runtime: Measured) -> None:
        self.runtime = runtime
        self.backlog = 0
        self.set_aside = 0
        self.oldest_age = 0.0
        self.lag: dict[tuple[str, int], int] = {}
        self.public_backlog = 0

    async def refresh(self) -> None:
        """Read the values that need the database or the bus."""
        o, e = tables.outbox, tables.events
        async with self.runtime.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(e.c.time))
                    .select_from(o.join(e, e.c.position == o.c.position))
                    .where(o.c.failed_at.is_(None))
                )
            ).one()
            aside = await conn.scalar(
                select(func.count()).select_from(o).where(o.c.failed_at.is_not(None))
            )
        self.backlog = int(row[0])
        self.set_aside = int(aside or 0)
        oldest = row[1]
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        self.oldest_age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        lag = getattr(self.runtime.consumer.source, "lag", None)
        self.lag = await lag() if lag is not None else {}
        if getattr(self.runtime, "public_relay", None) is not None:
            async with self.runtime.db.engine.connect() as conn:
                count = await conn.scalar(select(func.count()).select_from(public_outbox))
            self.public_backlog = int(count or 0)

    def collect(self) -> Iterator[Metric]:
        name = self.runtime.name
        appended = CounterMetricFamily(
            "avrr_events_appended", "events appended by this service", labels=["service", "type"]
        )
        for event_type, n in sorted(self.runtime.store.appended.items()):
            appended.add_metric([name, event_type], n)
        yield appended
        relay, stats = self.runtime.relay, self.runtime.consumer.stats
        gauge, counter = GaugeMetricFamily, CounterMetricFamily
        per_service = (  # one sample each, labelled with the service
            (gauge, "avrr_outbox_backlog", "outbox rows not yet published", self.backlog),
            (
                gauge,
                "avrr_outbox_set_aside",
                "outbox rows set aside: records the bus refused for their size",
                self.set_aside,
            ),
            (
                counter,
                "avrr_outbox_records_set_aside",
                "outbox rows this replica's relay set aside",
                relay.set_aside,
            ),
            (counter, "avrr_events_published", "records the relay published", relay.published),
            (counter, "avrr_events_consumed", "events applied by the consumer", stats.applied),
            (counter, "avrr_events_duplicate", "redelivered events skipped", stats.duplicates),
            (counter, "avrr_consumer_retries", "retries of failed handlers", stats.retries),
        )
        for family_of, metric, help_text, value in per_service:
            family = family_of(metric, help_text, labels=["service"])
            family.add_metric([name], value)
            yield family
        dead = CounterMetricFamily(
            "avrr_dead_letters", "records dead-lettered", labels=["service", "reason"]
        )
        for reason, n in sorted(Counter(stats.reasons).items()):
            dead.add_metric([name, reason], n)
        yield dead
        age = GaugeMetricFamily(
            "avrr_outbox_oldest_age_seconds",
            "age of the oldest unpublished event",
            labels=["service"],
        )
        age.add_metric([name], self.oldest_age)
        yield age
        lag = GaugeMetricFamily(
            "avrr_consumer_lag",
            "records not yet consumed",
            labels=["service", "topic", "partition"],
        )
        for (topic, partition), n in sorted(self.lag.items()):
            lag.add_metric([name, topic, str(partition)], n)
        yield lag
        yield from self._jobs(name)
        yield from self._public(name)
        batch = HistogramMetricFamily(
            "avrr_consumer_batch_duration_seconds", "time to handle one batch", labels=["service"]
        )
        latency = stats.batch_latency
        batch.add_metric([name], latency.cumulative(), sum_value=latency.total)
        yield batch

    def _public(self, name: str) -> Iterator[Metric]:
        relay = getattr(self.runtime, "public_relay", None)
        if relay is None:
            return
        backlog = GaugeMetricFamily(
            "avrr_public_backlog", "public notices not yet rendered", labels=["service"]
        )
        backlog.add_metric([name], self.public_backlog)
        yield backlog
        for metric, help_text, value in (
            ("avrr_public_published", "public records published", relay.published),
            ("avrr_public_withheld", "public notices withheld at render", relay.withheld),
            ("avrr_public_unrenderable", "notices that failed to render", relay.unrenderable),
        ):
            family = CounterMetricFamily(metric, help_text, labels=["service"])
            family.add_metric([name], value)
            yield family

    def _jobs(self, name: str) -> Iterator[Metric]:
        jobs = getattr(self.runtime, "jobs", ())  # absent while the runtime is being built
        for metric, help_text, attribute in (
            ("avrr_job_runs", "runs of a periodic job", "runs"),
            ("avrr_job_failures", "runs of a periodic job that failed", "failures"),
            ("avrr_job_items", "items periodic jobs handled", "items"),
        ):
            family = CounterMetricFamily(metric, help_text, labels=["service", "job"])
            for job in jobs:
                family.add_metric([name, job.name], getattr(job, attribute))
            yield family
        last = GaugeMetricFamily(
            "avrr_job_last_success_timestamp_seconds",
            "when a periodic job last completed a run (Unix time)",
            labels=["service", "job"],
        )
        leader = GaugeMetricFamily(
            "avrr_job_leader", "1 on the replica that runs the job", labels=["service", "job"]
        )
        for job in jobs:
            if job.last_success is not None:
                last.add_metric([name, job.name], job.last_success)
            leader.add_metric([name, job.name], 1.0 if job.leader else 0.0)
        yield last
        yield leader


class ServiceMetrics:
    """The registry of one runtime plus the HTTP latency histogram its middleware feeds."""

    def __init__(self, runtime: Measured) -> None:
        self.registry = CollectorRegistry()
        self._collector = _RuntimeCollector(runtime)
        self.registry.register(self._collector)
        self.http = Histogram(
            "avrr_http_request_duration_seconds",
            "REST request latency",
            ["service", "method", "route", "status"],
            registry=self.registry,
            buckets=BUCKETS,
        )
        self.service = runtime.name

    def observe_request(self, method: str, route: str, status: int, started: float) -> None:
        self.http.labels(self.service, method, route, str(status)).observe(
            time.perf_counter() - started
        )

    async def exposition(self) -> bytes:
        await self._collector.refresh()
        return generate_latest(self.registry)
