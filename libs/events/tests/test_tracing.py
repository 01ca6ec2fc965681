"""One trace follows a case: REST span -> event -> Kafka -> consumer span -> reaction's event."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sample_domain import CaseOpened, NoteAdded, SampleCase
from sample_service import SampleService, repository, rest_service

from avrr_events import Cause, HandlerContext
from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, serving
from avrr_events.web.service import ServiceRuntime


async def test_the_consumer_span_is_a_child_of_the_command_span_across_kafka(
    kafka_service: SampleService, span_exporter: Any
) -> None:
    service = kafka_service
    repo = repository(service.store)

    async def welcome(ctx: HandlerContext, event: CaseOpened) -> None:
        case = await repo.load(ctx.envelope.subject, conn=ctx.conn)
        case.add_note("welcome", author="system")
        await repo.save(case, ctx.cause, conn=ctx.conn)

    service.consumer.add_reaction(CaseOpened.event_type, welcome)
    service.start()

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /cases") as request_span:
        case = SampleCase("traced")
        case.open("office")
        await service.repo.save(case, Cause.new())

    async def both_consumed() -> bool:
        return await service.notes() == 1 and service.consumer.stats.applied == 2

    await eventually(both_consumed)
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    opened = spans[f"{CaseOpened.event_type} process"]
    noted = spans[f"{NoteAdded.event_type} process"]
    trace_id = request_span.get_span_context().trace_id
    assert opened.context.trace_id == noted.context.trace_id == trace_id
    assert opened.parent is not None and noted.parent is not None
    assert opened.parent.span_id == request_span.get_span_context().span_id
    assert noted.parent.span_id == opened.context.span_id
    assert opened.attributes["messaging.consumer.group.name"] == service.consumer.group


traced = rest_service("traced")


async def test_a_rest_command_starts_the_trace_its_events_carry_to_the_consumer(
    sqlite_url: str, span_exporter: Any
) -> None:
    runtime = ServiceRuntime(traced, ServiceSettings(database_url=sqlite_url, dev=True))
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with serving(runtime) as http:
        response = await http.post(
            "/cases/t-1", headers={"traceparent": caller, "X-AVRR-User": "ana"}
        )
        assert response.status_code == 200

        async def consumed() -> bool:
            return runtime.consumer.stats.applied == 1

        await eventually(consumed)
    finished = span_exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    [server] = [s for s in finished if s.kind == SpanKind.SERVER]
    [consumer] = [s for s in finished if s.name == f"{CaseOpened.event_type} process"]
    assert server.name == "POST /cases/{case_id}"
    assert format(server.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert server.parent is not None and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert consumer.context.trace_id == server.context.trace_id
    ancestors, span = [], consumer
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        ancestors.append(span)
    assert server in ancestors, "the consumer span descends from the REST request's span"


async def test_fastapis_telemetry_skips_probes_and_metrics_and_never_exports_a_query_string(
    sqlite_url: str, span_exporter: Any
) -> None:
    runtime = ServiceRuntime(traced, ServiceSettings(database_url=sqlite_url, dev=True))
    async with serving(runtime) as http:
        for probe in ("/health/live", "/health/ready", "/metrics"):
            assert (await http.get(probe)).status_code in (200, 503), probe
        opened = await http.post("/cases/t-3?office=BO&name=Ana", headers={"X-AVRR-User": "ana"})
        assert opened.status_code == 200
    servers = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["POST /cases/{case_id}"], "no span for probes or /metrics"
    [server] = servers
    assert server.attributes is not None and server.attributes["url.path"] == "/cases/t-3"
    assert not {"url.query", "url.full"} & set(server.attributes)
    assert "Ana" not in repr(dict(server.attributes))


def test_fastapis_telemetry_is_configured_explicitly() -> None:
    """No exception (message and stack) as an OpenTelemetry log record, no OTel metrics
    (the services' are Prometheus'), no exporter set up behind the service's back."""
    runtime = ServiceRuntime(traced, ServiceSettings(database_url="sqlite+aiosqlite://", dev=True))
    config = runtime.app(lifespan=False)._telemetry
    assert config["logs"] is False and config["metrics"] is False
    assert config["auto_configure"] is False and config["tracing"] is True
    assert config["exclude"] is not None and config["exclude"]({"path": "/health/live"})


def test_the_query_less_tracer_drops_a_query_passed_by_position_or_keyword(
    span_exporter: Any,
) -> None:
    from avrr_events.web.telemetry import WithoutQueries

    tracer = WithoutQueries().get_tracer("test")
    attributes = {"url.path": "/cases", "url.query": "name=Ana"}
    tracer.start_span("by position", None, SpanKind.SERVER, attributes).end()
    with tracer.start_as_current_span("by keyword", attributes=attributes, record_exception=False):
        pass
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    for name in ("by position", "by keyword"):
        assert dict(spans[name].attributes or {}) == {"url.path": "/cases"}, name
