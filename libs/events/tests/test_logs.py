"""Structured logs: JSON lines with the trace and the event, errors without the row's values."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from pydantic import BaseModel, ValidationError
from sample_domain import NoteAdded
from sample_service import SampleService, kafka_consumer
from sqlalchemy import text
from test_consumer import note_envelope, open_case, produce

from avrr_events import HandlerContext, logs
from avrr_events.adapters.kafka import KafkaSettings
from avrr_events.testing import eventually, read_topic

Lines = Callable[[], list[dict[str, Any]]]
SECRET = "Reyes Cruz F123456"  # stands for a person's values a driver's message could quote


class CastsTheNoteToANumber:
    """A handler whose SQL fails on the note's text: PostgreSQL quotes the value it rejects."""

    async def __call__(self, ctx: HandlerContext, event: NoteAdded) -> None:
        logging.getLogger("avrr_sample.reactions").info("casting the note")
        await ctx.conn.execute(text("SELECT CAST(CAST(:v AS text) AS integer)"), {"v": event.text})


async def test_a_database_error_is_dead_lettered_and_logged_by_type_and_sqlstate_only(
    kafka_service: SampleService,
    kafka_settings: KafkaSettings,
    json_logs: Lines,
    span_exporter: Any,
) -> None:
    service = kafka_service
    consumer = kafka_consumer(
        service.db,
        kafka_settings,
        service.topic,
        f"casting-{service.topic}",
        reactions={NoteAdded.event_type: [CastsTheNoteToANumber()]},
        max_attempts=2,
        retry_backoff=0.01,
    )
    service.consumer = consumer
    await open_case(service, "c")
    note = note_envelope("c", SECRET)
    await produce(kafka_settings, [note.to_message(service.topic)])
    service.start()

    async def dead_lettered() -> bool:
        return consumer.stats.dead_lettered == 1

    await eventually(dead_lettered)
    [dead] = await read_topic(kafka_settings, consumer.dead_letter_topic, 1)
    error = dead.header("dlq_error") or ""
    assert "InvalidTextRepresentationError (SQLSTATE 22P02)" in error, error
    assert "Reyes" not in error and "F123456" not in error

    lines = json_logs()
    everything = json.dumps(lines, ensure_ascii=False)
    assert "Reyes" not in everything and "F123456" not in everything
    failed = [line for line in lines if "handling failed" in line["message"]]
    assert failed and all("SQLSTATE 22P02" in line["message"] for line in failed)
    in_handler = [line for line in lines if line["message"] == "casting the note"]
    assert in_handler, "the reaction's own line"
    for line in [*failed, *in_handler]:
        assert line["event_id"] == note.id
        assert line["event_type"] == NoteAdded.event_type
        assert line["correlation_id"] == "corr"
        assert line["service"] == "under-test" and line["level"] in ("INFO", "WARNING")
    assert all(len(line["trace_id"]) == 32 for line in in_handler), "inside the handling span"


def test_an_error_text_keeps_the_type_and_where_not_the_values() -> None:
    class Person(BaseModel):
        date_of_birth: int

    with pytest.raises(ValidationError) as invalid:
        Person.model_validate({"date_of_birth": "1990-05-14"})
    assert logs.error_text(invalid.value) == "ValidationError: date_of_birth: int_parsing"

    try:
        int(SECRET)
    except ValueError as exc:
        described = logs.error_text(exc)
    assert described.startswith("ValueError at test_logs.py:") and "Reyes" not in described


def test_a_logged_exception_shows_its_stack_but_not_its_message(
    json_logs: Lines, span_exporter: Any
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        try:
            raise KeyError(SECRET)
        except KeyError:
            logging.getLogger("avrr_sample").exception("lookup failed")
    [line] = [line for line in json_logs() if line["logger"] == "avrr_sample"]
    assert line["message"] == "lookup failed"
    assert line["error"].startswith("KeyError at test_logs.py:")
    assert line["stack"] and all("Reyes" not in frame for frame in line["stack"])
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "Reyes" not in json.dumps(line)


def test_text_format_for_a_person_at_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure("intake", format="text", level="INFO")
        logging.getLogger("avrr_sample").warning("relay behind by %d", 3)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert " WARNING intake avrr_sample: relay behind by 3" in err
    with pytest.raises(ValueError, match="AVRR_LOG_FORMAT"):
        logs.configure("intake", format="xml")


def test_a_traceback_logged_as_text_keeps_frames_and_types_not_messages(
    json_logs: Lines,
) -> None:
    """uvicorn logs a failed start-up as ``traceback.format_exc()``, messages and all."""

    def decode() -> None:
        try:
            int(SECRET)
        except ValueError as exc:
            raise RuntimeError(f"could not read\n{SECRET}") from exc

    try:
        decode()
    except RuntimeError:
        logging.getLogger("uvicorn.error").error(traceback.format_exc())
    [line] = [line for line in json_logs() if line["logger"] == "uvicorn.error"]
    assert line["message"] == "uncaught exception"
    assert line["error"] == "ValueError / RuntimeError"
    assert any(frame.endswith("in decode") for frame in line["stack"])
    assert "Reyes" not in json.dumps(line)
