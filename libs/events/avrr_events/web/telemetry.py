"""FastAPI's own OpenTelemetry instrumentation, configured explicitly.

FastAPI (0.165, locked) opens each request's server span itself once a tracer
provider is set; ``opentelemetry-instrumentation-fastapi`` is not in
requirements.lock and is not needed. Its defaults would also

- trace the probes and ``/metrics``: a span for every kubelet probe and every
  scrape, every few seconds, burying the case flows;
- export the query string as ``url.query``, redacting only a fixed list of
  parameter names: ours (``?office=``, a search) can describe a person;
- emit every unhandled exception, message and stack trace included, as an
  OpenTelemetry log record: a message may quote a value, hence personal data
  (the service logs the error class and route only, see ``web.http``);
- record OpenTelemetry metrics, where the services' metrics are Prometheus'.

``TELEMETRY`` turns those off and keeps the server span and FastAPI's
operation spans (dependencies, endpoint, serialisation), which carry no
exception message. Nothing is traced while no tracer provider is set (no
exporter configured), as before.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

UNTRACED = ("/metrics", "/health/")
NEVER_EXPORTED = frozenset({"url.query", "url.full"})


def untraced(scope: MutableMapping[str, Any]) -> bool:
    """Probes and metrics, and every request while nothing traces (no provider set)."""
    path = str(scope.get("path", ""))
    if path == UNTRACED[0] or path.startswith(UNTRACED[1]):
        return True
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _kept(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if k not in NEVER_EXPORTED}


class _WithoutQueries(trace.Tracer):
    """The global tracer, minus the attributes that would carry a query string."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        **more: Any,
    ) -> Span:
        return self._tracer.start_span(name, context, kind, _kept(attributes), **more)

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        **more: Any,
    ) -> AbstractContextManager[Span]:
        # ``more``: links, start time, record_exception=False of FastAPI's operation spans
        return self._tracer.start_as_current_span(name, context, kind, _kept(attributes), **more)


class WithoutQueries(trace.TracerProvider):
    """Tracers of the global provider (set later, by the exporter or a test, as it may be)
    that never record a request's query string."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _WithoutQueries(trace.get_tracer_provider().get_tracer(*args, **kwargs))


TELEMETRY = TelemetryConfig(
    tracer_provider=WithoutQueries(),
    tracing=True,
    operation_spans=True,
    logs=False,
    metrics=False,
    auto_configure=False,
    exclude=untraced,
)
