"""Issue 9: one trace shows a case's path intake -> eligibility -> travel.

Intake, eligibility and travel run in this process (spans of other OS processes
cannot reach the in-memory exporter), each with its own PostgreSQL database,
over real Kafka. The case is referred, requested for return (eligibility opens
the assessment from the event), screened and cleared by a caseworker's later
REST requests, and travel opens the movement. Every request starts a trace of
its own; the case's commands continue the case's trace, so the travel
consumer's span descends, parent by parent, from the referral's request.
"""

from __future__ import annotations

from typing import Any

import pytest
from journey_steps import InProcess, Platform, clear, open_case, request_return
from opentelemetry.trace import SpanKind

from avrr_events.web.service import Service

intake = pytest.importorskip("avrr_intake.main")
eligibility = pytest.importorskip("avrr_eligibility.main")
travel = pytest.importorskip("avrr_travel.main")


@pytest.fixture
async def platform(services_in_process: InProcess) -> Platform:
    """The three services in-process on real Kafka + PostgreSQL, one shared key database."""
    services: dict[str, Service] = {
        "intake": intake.service,
        "eligibility": eligibility.service,
        "travel": travel.service,
    }
    return await services_in_process(services)


def _ancestry(span: Any, by_id: dict[int, Any]) -> list[Any]:
    """The span and its ancestors, nearest first, as far as the exporter holds them."""
    chain = [span]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def test_one_trace_follows_a_case_from_intake_through_eligibility_to_travel(
    platform: Platform, span_exporter: Any
) -> None:
    case = await open_case(platform)
    await request_return(platform, case)
    await clear(platform, case)

    spans = span_exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    [opened] = [
        s
        for s in spans
        if s.name == "avrr.eligibility.DueDiligenceCleared process"
        and s.attributes["cloudevents.event_subject"] == case.case_id
        and s.attributes["messaging.consumer.group.name"].endswith(".travel")
    ]
    chain = _ancestry(opened, by_id)
    names = [s.name for s in chain]
    root = chain[-1]

    assert root.kind == SpanKind.SERVER and root.name == "POST /referrals", names
    assert root.parent is None, "the referral's request started the case's trace"
    assert {s.context.trace_id for s in chain} == {root.context.trace_id}
    # Nearest first: travel's handling, eligibility's clearance (a later request,
    # continued in the case's trace), eligibility's handling of the return
    # request, intake's return-request command, ..., intake's referral.
    hops = [
        "avrr.eligibility.DueDiligenceCleared process",
        "assessment command",
        "avrr.intake.ReturnRequested process",
        "case command",
        "POST /referrals",
    ]
    positions = [names.index(hop) for hop in hops]
    assert positions == sorted(positions), names
    groups = {
        s.attributes["messaging.consumer.group.name"].rsplit(".", 1)[1]
        for s in chain
        if s.kind == SpanKind.CONSUMER
    }
    assert groups == {"travel", "eligibility"}, names

    # The clearance's own request span is not in the chain but linked from it.
    [clearance] = [
        s
        for s in spans
        if s.kind == SpanKind.SERVER and s.attributes["url.path"].endswith("/due-diligence")
    ]
    assert clearance.context.trace_id != root.context.trace_id
    linked = {link.context.trace_id for s in chain for link in s.links}
    assert clearance.context.trace_id in linked
