"""One trace follows a case: REST span -> event -> Kafka -> consumer span -> reaction's event."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from sample_domain import CaseOpened, NoteAdded, SampleCase
from sample_service import SampleService, repository

from avrr_events import Cause, HandlerContext
from avrr_events.testing import eventually


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
