"""A case keeps one trace: a later command on it continues the case's trace, not its request's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind
from sample_domain import CaseOpened, NoteAdded
from sample_service import rest_service

from avrr_events.settings import ServiceSettings
from avrr_events.testing import eventually, running
from avrr_events.web.service import ServiceRuntime

notes = rest_service("noted")
CASEWORKER = {"X-AVRR-User": "ana"}
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
async def served(
    service_settings: ServiceSettings,
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """The sample service on real PostgreSQL and Kafka, topics of the test's own."""
    async with running(notes, service_settings, base_url="http://t") as served:
        yield served


async def _consumed(runtime: ServiceRuntime, count: int) -> None:
    async def done() -> bool:
        return runtime.consumer.stats.applied == count

    await eventually(done)


async def _opened(runtime: ServiceRuntime, http: httpx.AsyncClient, case_id: str) -> None:
    """The case opened through REST by a caseworker, and its event consumed."""
    assert (await http.post(f"/cases/{case_id}", headers=CASEWORKER)).status_code == 200
    await _consumed(runtime, 1)


async def _latest_traceparent(runtime: ServiceRuntime, stream_id: str) -> str | None:
    recorded = await runtime.store.load(stream_id)
    return recorded[-1].envelope.traceparent


def _server_span(spans: Any, path: str) -> Any:
    [span] = [s for s in spans if s.kind == SpanKind.SERVER and s.attributes["url.path"] == path]
    return span


async def test_a_later_command_without_a_caller_trace_continues_the_cases_trace(
    served: tuple[ServiceRuntime, httpx.AsyncClient], span_exporter: Any
) -> None:
    runtime, http = served
    await _opened(runtime, http, "c-1")
    opened_with = await _latest_traceparent(runtime, "case-c-1")
    assert opened_with is not None

    assert (await http.post("/cases/c-1/notes", headers=CASEWORKER)).status_code == 200
    await _consumed(runtime, 2)

    spans = span_exporter.get_finished_spans()
    opening = _server_span(spans, "/cases/c-1")
    noting = _server_span(spans, "/cases/c-1/notes")
    assert noting.context.trace_id != opening.context.trace_id, "each request starts a trace"
    [command] = [s for s in spans if s.name == "case command"]
    case_trace = opening.context.trace_id
    assert command.context.trace_id == case_trace
    assert command.parent is not None
    assert format(command.parent.span_id, "016x") == opened_with.split("-")[2]
    [link] = command.links
    assert link.context.trace_id == noting.context.trace_id, "linked to its request's trace"
    assert command.attributes["avrr.event_types"] == (NoteAdded.event_type,)

    noted_with = await _latest_traceparent(runtime, "case-c-1")
    assert noted_with is not None
    assert noted_with.split("-")[1:3] == [f"{case_trace:032x}", f"{command.context.span_id:016x}"]
    [handled] = [s for s in spans if s.name == f"{NoteAdded.event_type} process"]
    assert handled.context.trace_id == case_trace
    assert handled.parent is not None and handled.parent.span_id == command.context.span_id


async def test_a_caller_that_sends_a_trace_context_keeps_its_own_trace(
    served: tuple[ServiceRuntime, httpx.AsyncClient], span_exporter: Any
) -> None:
    runtime, http = served
    await _opened(runtime, http, "c-2")
    response = await http.post("/cases/c-2/notes", headers={**CASEWORKER, "traceparent": CALLER})
    assert response.status_code == 200
    await _consumed(runtime, 2)

    spans = span_exporter.get_finished_spans()
    assert not [s for s in spans if s.name == "case command"]
    noted_with = await _latest_traceparent(runtime, "case-c-2")
    assert noted_with is not None and noted_with.split("-")[1] == CALLER.split("-")[1]
    noting = _server_span(spans, "/cases/c-2/notes")
    opening = _server_span(spans, "/cases/c-2")
    linked = [
        link
        for s in spans
        if s.context.trace_id == noting.context.trace_id
        for link in s.links
        if link.context.trace_id == opening.context.trace_id
    ]
    assert linked, "the caller's trace links to the case's, so either finds the other"
    [handled] = [s for s in spans if s.name == f"{CaseOpened.event_type} process"]
    assert handled.context.trace_id == opening.context.trace_id
