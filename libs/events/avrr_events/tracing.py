"""One trace per case flow: W3C trace context carried in every envelope.

A REST command runs inside the server span of its request (FastAPI's own
OpenTelemetry instrumentation opens it, continuing a caller's trace); the events it
writes carry that span's ``traceparent``. The relay publishes it as the
``ce_traceparent`` header (CloudEvents distributed-tracing extension), and the
consumer of every service opens its handling span as a child of it, so events
written in reaction carry the consumer span onward. An exporter is configured
by the service (OTLP in production, in-memory in tests); without one the API
is a no-op and nothing here costs more than a dictionary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from avrr_events.envelope import Envelope

tracer = trace.get_tracer("avrr_events")
_propagator = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The ``traceparent`` of the active span, or None when nothing is being traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def configure_exporter(service: str) -> bool:
    """Export spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; True if it is.

    Tests install an in-memory exporter instead; without either, tracing is a
    no-op. The standard OTEL_* variables (endpoint, headers, protocol) apply.
    """
    import os

    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"avrr-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


@contextmanager
def handling(envelope: Envelope, group: str) -> Iterator[Span]:
    """A consumer span for one event, child of the span that wrote the event."""
    parent = _propagator.extract(
        {"traceparent": envelope.traceparent} if envelope.traceparent else {}
    )
    with tracer.start_as_current_span(
        f"{envelope.type} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": group,
            "messaging.message.id": envelope.id,
            "cloudevents.event_type": envelope.type,
            "cloudevents.event_subject": envelope.subject,
        },
    ) as span:
        yield span
