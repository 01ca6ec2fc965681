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
from opentelemetry import trace
from opentelemetry.trace import Span

UNTRACED = ("/metrics", "/health/")
NEVER_EXPORTED = frozenset({"url.query", "url.full"})


def untraced(scope: MutableMapping[str, Any]) -> bool:
    """Probes and metrics, and every request while nothing traces (no provider set)."""
    path = str(scope.get("path", ""))
    if path == UNTRACED[0] or path.startswith(UNTRACED[1]):
        return True
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _without_query(args: tuple[Any, ...], more: dict[str, Any]) -> tuple[Any, ...]:
    """A span's arguments after its name (context, kind, attributes, ...), attributes kept
    only where they carry no query string, whether passed by position or by keyword."""
    if len(args) >= 3:
        args = (*args[:2], _kept(args[2]), *args[3:])
    if "attributes" in more:
        more["attributes"] = _kept(more["attributes"])
    return args


def _kept(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if k not in NEVER_EXPORTED}


class _WithoutQueries(trace.Tracer):
    """The global tracer, minus the attributes that would carry a query string; the rest
    (links, start time, FastAPI's record_exception=False) passes through as given."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, *args: Any, **more: Any) -> Span:
        return self._tracer.start_span(name, *_without_query(args, more), **more)

    def start_as_current_span(  # type: ignore[override]
        self, name: str, *args: Any, **more: Any
    ) -> AbstractContextManager[Span]:
        return self._tracer.start_as_current_span(name, *_without_query(args, more), **more)


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
