"""One trace per case flow: W3C trace context carried in every envelope.

A REST command runs inside the server span of its request (FastAPI's own
OpenTelemetry instrumentation opens it, continuing a caller's trace); the events it
writes carry that span's ``traceparent``. The relay publishes it as the
``ce_traceparent`` header (CloudEvents distributed-tracing extension), and the
consumer of every service opens its handling span as a child of it, so events
written in reaction carry the consumer span onward. An exporter is configured
by the service (OTLP in production, in-memory in tests); without one the API
is a no-op and nothing here costs more than a dictionary.

A case lives for weeks and its steps are separate requests: a caseworker
clearing due diligence starts a new HTTP request, hence (W3C) a new trace. So
that ONE trace shows a case's path across services, a command from outside on
an existing stream whose request carried no ``traceparent`` continues the
case's trace: its command span (``command``) is a child of the trace context
recorded on the stream's latest event, with a span link to the request's own
span. A caller that sends a ``traceparent`` keeps its own trace (the case's is
not forced on it); the decision is in docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from avrr_events.env_settings import EnvironmentSettings, from_env
from avrr_events.envelope import Envelope

tracer = trace.get_tracer("avrr_events")
_propagator = TraceContextTextMapPropagator()
# Whether the HTTP request being handled carried a valid trace context of its caller.
_caller_traced: ContextVar[bool] = ContextVar("avrr_caller_traced", default=False)


def current_traceparent() -> str | None:
    """The ``traceparent`` of the active span, or None when nothing is being traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def _context_of(traceparent: str | None) -> trace.SpanContext:
    carrier = {"traceparent": traceparent} if traceparent else {}
    return trace.get_current_span(_propagator.extract(carrier)).get_span_context()


@contextmanager
def request_from_caller(traceparent: str | None) -> Iterator[None]:
    """Mark one HTTP request's handling with whether its caller sent a valid ``traceparent``.

    The service's HTTP middleware wraps every request in it; ``command`` reads it.
    When this service traces nothing (no exporter, so no server span), the
    caller's context becomes the active one, so that the request's events and
    log lines still carry the caller's trace.
    """
    caller = _context_of(traceparent)
    token = _caller_traced.set(caller.is_valid)
    attached = None
    if caller.is_valid and not trace.get_current_span().get_span_context().is_valid:
        attached = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(caller)))
    try:
        yield
    finally:
        if attached is not None:
            otel_context.detach(attached)
        _caller_traced.reset(token)


@contextmanager
def command(
    recorded: str | None, name: str, attributes: Mapping[str, str | list[str]]
) -> Iterator[str | None]:
    """Run a command from outside on a stream in the trace of the case it acts on.

    ``recorded`` is the ``traceparent`` on the stream's latest event. Yields the
    ``traceparent`` the command's events must carry, or None when the active
    trace stays theirs: the stream is new or untraced, the request's caller sent
    its own trace context, or the active trace already is the case's. Otherwise
    a command span is opened as a child of ``recorded``, linked to the request's
    span (from which it is found the other way round).
    """
    case = _context_of(recorded)
    current = trace.get_current_span()
    here = current.get_span_context()
    if not case.is_valid or here.trace_id == case.trace_id:
        yield None
        return
    if _caller_traced.get():
        current.add_link(case, {"avrr.link": "case"})  # found from the caller's trace
        yield None
        return
    links = [Link(here, {"avrr.link": "request"})] if here.is_valid else []
    with tracer.start_as_current_span(
        name,
        context=trace.set_span_in_context(trace.NonRecordingSpan(case)),
        kind=SpanKind.INTERNAL,
        links=links,
        attributes=dict(attributes),
    ):
        yield current_traceparent()


class TracingSettings(EnvironmentSettings):
    """Whether spans leave the process: OpenTelemetry's own endpoint variable, which its
    exporter reads again with the other OTEL_* variables (headers, protocol)."""

    otel_exporter_otlp_endpoint: str | None = from_env(
        "otel_exporter_otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", None
    )


def configure_exporter(service: str) -> bool:
    """Export spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; True if it is.

    Tests install an in-memory exporter instead; without either, tracing is a
    no-op. The standard OTEL_* variables (endpoint, headers, protocol) apply.
    """
    if not TracingSettings().otel_exporter_otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"avrr-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def recording() -> bool:
    """Whether spans are recorded: a tracer provider is installed (an exporter's, the tests').

    Without one the API's tracer is a no-op, whose spans only pass the parent's
    context on; the consumer skips them where nothing inside would read it.
    """
    return not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )


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
