"""Issue 9: the services' logs during a case's flow are JSON lines, in their traces, and
carry none of the person's submitted values.

Intake and eligibility run in this process on real Kafka and PostgreSQL with the
logging set-up every service process gets (``logs.configure``, JSON). A household
is referred with a name, a birth date, a document number and a phone number,
consents, is counselled and asks to return; eligibility assesses the request from
the event. Every line of the log must parse, each request's line must carry the
trace of that request, and no submitted value may appear anywhere in the log.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from journey_steps import (
    CASEWORKER,
    OFFICE,
    InProcess,
    Platform,
    consent,
    counselling,
    status,
)
from opentelemetry.trace import SpanKind

intake = pytest.importorskip("avrr_intake.main")
eligibility = pytest.importorskip("avrr_eligibility.main")

Lines = Callable[[], list[dict[str, Any]]]
# Invented values, unusual enough that finding one in the log can only mean it leaked.
GIVEN, FAMILY, BORN, DOCUMENT, PHONE = (
    "Xiomara Quetzalli",
    "Ulloa-Brizuela",
    "1987-04-23",
    "Z9QX81734",
    "+502 9988 7766",
)


@pytest.fixture
async def platform(services_in_process: InProcess, json_logs: Lines) -> Platform:
    """Intake and eligibility in this process, started once ``json_logs`` set up the log."""
    return await services_in_process({"intake": intake.service, "eligibility": eligibility.service})


def referral() -> dict[str, Any]:
    return {
        "source": "self_referral",
        "contact_sharing_consented": True,
        "contact": {"phone": PHONE},
        "current_location": {"country": "GT", "city": "Ciudad de Guatemala"},
        "nationality": "HN",
        "languages": ["es"],
        "household": [
            {
                "given_names": GIVEN,
                "family_name": FAMILY,
                "date_of_birth": BORN,
                "sex": "female",
                "relationship": "principal",
                "document_type": "passport",
                "document_number": DOCUMENT,
            }
        ],
        "office": OFFICE,
    }


async def test_a_case_flow_logs_json_lines_in_its_traces_without_personal_data(
    platform: Platform, json_logs: Lines, span_exporter: Any
) -> None:
    p = platform
    created, _ = await p.post("intake", "/referrals", referral(), CASEWORKER, expect=201)
    case_id, [person] = created["case_id"], created["household"]
    given = consent(person["person_id"])
    await p.post("intake", f"/cases/{case_id}/consents", given, CASEWORKER, expect=201)
    session = counselling(topics=["return process"])
    await p.post(
        "intake", f"/cases/{case_id}/counselling-sessions", session, CASEWORKER, expect=201
    )
    _, answered = await p.post(
        "intake",
        f"/cases/{case_id}/return-request",
        {"destination_country": "HN"},
        CASEWORKER,
        expect=201,
    )
    await p.case_shows("eligibility", case_id, status("eligible"), hop="assessed", since=answered)
    # A rejected referral: its values are in the request, and must not reach the log either.
    invalid = {**referral(), "nationality": "Honduras"}
    rejected = await p.clients["intake"].post("/referrals", json=invalid, headers=CASEWORKER)
    assert rejected.status_code == 422, rejected.text

    lines = json_logs()  # every line parsed as one JSON object
    assert lines
    everything = json.dumps(lines, ensure_ascii=False)
    for value in (GIVEN, FAMILY, BORN, DOCUMENT, PHONE, *GIVEN.split(), "99887766"):
        assert value not in everything, f"{value!r} reached the log"
    for line in lines:
        assert {"time", "level", "logger", "message", "service"} <= line.keys(), line

    traces: dict[str, set[str]] = {}  # request span name -> the traces of such requests
    for span in span_exporter.get_finished_spans():
        if span.kind == SpanKind.SERVER:
            traces.setdefault(span.name, set()).add(format(span.context.trace_id, "032x"))
    requests = [line for line in lines if line["message"].startswith("POST /")]
    route_of = {id(line): line["message"].rsplit(" ", 1)[0] for line in requests}
    assert {
        "POST /referrals",
        "POST /cases/{case_id}/consents",
        "POST /cases/{case_id}/return-request",
    } <= set(route_of.values())
    for line in requests:
        assert line["service"] == "intake", line
        assert line["trace_id"] in traces[route_of[id(line)]], "logged inside its request's trace"
        assert len(line["span_id"]) == 16 and "duration_ms" in line
    assert case_id not in json.dumps(requests), "routes are logged as templates"


async def test_a_service_process_writes_only_json_lines_without_personal_data(
    service_processes: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """``python -m avrr_events.serve``: uvicorn's lines and the service's, all JSON; without
    an exporter, a request's line still carries the trace its caller sent."""
    procs = await service_processes("intake", AVRR_LOG_FORMAT="json")
    proc = procs["intake"]
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with httpx.AsyncClient(base_url=proc.url, headers=CASEWORKER, timeout=30) as http:
        created = await http.post("/referrals", json=referral())
        assert created.status_code == 201, created.text
        [person] = created.json()["household"]
        given = await http.post(
            f"/cases/{created.json()['case_id']}/consents",
            json=consent(person["person_id"]),
            headers={"traceparent": caller},
        )
        assert given.status_code == 201, given.text
    proc.process.terminate()
    await proc.process.wait()

    text = proc.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # each line one JSON object
    assert all(isinstance(line, dict) and line["service"] == "intake" for line in lines)
    assert any(line["message"] == "POST /referrals 201" for line in lines), text[-2000:]
    assert any(line["logger"].startswith("uvicorn") for line in lines), "uvicorn's lines too"
    # The process exports no spans, yet the line of a request from a traced caller is in its trace.
    [traced] = [line for line in lines if line["message"] == "POST /cases/{case_id}/consents 201"]
    assert traced["trace_id"] == caller.split("-")[1], traced
    for value in (GIVEN, FAMILY, BORN, DOCUMENT, PHONE):
        assert value not in text
