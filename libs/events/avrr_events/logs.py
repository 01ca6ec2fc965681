"""Structured logs: one JSON object per line, with the trace, without personal data.

Every process of the platform (``serve``, ``setup``, the ``avrr`` CLI, the
embedded runner) calls ``configure`` once. Each line is a JSON object with
``time``, ``level``, ``logger``, ``message``, ``service``, and, when logged
inside a traced request or event handling, ``trace_id`` and ``span_id`` (the
OpenTelemetry span active at the logging call), so a log line leads to its
trace and back. Lines logged while the consumer handles an event carry its
``event_id``, ``event_type`` and ``correlation_id``. ``AVRR_LOG_FORMAT=text``
prints the same fields as plain text for a person at a terminal;
``AVRR_LOG_LEVEL`` sets the level.

Personal data never reaches a log. Call sites log ids, types and counts, never
event data or request bodies. Two sources of text are not ours and are
cleaned here: an exception's message (a driver error can quote the row it
failed on: ``error_text`` keeps the type and, for database errors, the SQLSTATE;
a traceback logged as text keeps its frames and exception types) and the HTTP
access log (its query string can hold search terms: the path is
logged without it, and without the client's address).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from avrr_events.env_settings import EnvironmentSettings, from_env

FORMAT_VARIABLE = "AVRR_LOG_FORMAT"
LEVEL_VARIABLE = "AVRR_LOG_LEVEL"

# The service whose work is being logged: a process runs one service, except the
# embedded runner, where each runtime's tasks and requests name their own.
_service: ContextVar[str | None] = ContextVar("avrr_log_service", default=None)
# The event the consumer is handling: its id, type and correlation id.
_event: ContextVar[dict[str, str] | None] = ContextVar("avrr_log_event", default=None)

# Fields a call site may pass with ``extra=``: ids and measures, never data.
_EXTRA_FIELDS = ("event_id", "event_type", "correlation_id", "duration_ms")
# Kafka clients: their messages name brokers and topics, never records' values.
_KAFKA_CLIENTS = frozenset({"aiokafka", "kafka", "confluent_kafka"})


@contextmanager
def service_context(name: str) -> Iterator[None]:
    """Log what runs inside (and in tasks started inside) as the work of service ``name``."""
    token = _service.set(name)
    try:
        yield
    finally:
        _service.reset(token)


@contextmanager
def event_context(*, event_id: str, event_type: str, correlation_id: str | None) -> Iterator[None]:
    """Log what runs inside as part of handling one event (the consumer wraps each)."""
    fields = {"event_id": event_id, "event_type": event_type}
    if correlation_id:
        fields["correlation_id"] = correlation_id
    token = _event.set(fields)
    try:
        yield
    finally:
        _event.reset(token)


def error_text(exc: BaseException) -> str:
    """An exception as text that cannot carry row data, for logs and dead-letter headers.

    Database errors (SQLAlchemy wrapping asyncpg, or asyncpg itself) become their
    types and SQLSTATE: their messages and the parameters SQLAlchemy appends can
    quote the values of the row. Validation errors keep where and what, not the
    input. Errors raised by the platform's own code (``avrr_*`` modules) keep
    their messages, which are written to name ids, types and rules only; so do
    the Kafka clients' and the operating system's (addresses, not rows). Any
    other error is its type and where it was raised.
    """
    kind = type(exc)
    name = kind.__qualname__
    # SQLAlchemy keeps the driver's error as ``orig``; its asyncpg adapter keeps
    # asyncpg's own as that one's __cause__. Only their types and codes are kept.
    driver: BaseException = getattr(exc, "orig", None) or exc
    cause = driver.__cause__
    native = cause if cause is not None and hasattr(cause, "sqlstate") else driver
    sqlstate = getattr(native, "sqlstate", None) or getattr(driver, "pgcode", None)
    code = f"SQLSTATE {sqlstate}" if sqlstate else getattr(native, "sqlite_errorname", None)
    if driver is not exc or code:
        text = " / ".join(dict.fromkeys(type(e).__qualname__ for e in (exc, driver, native)))
        return f"{text} ({code})" if code else text
    errors = getattr(exc, "errors", None)
    if kind.__module__.startswith("pydantic") and callable(errors):
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}"
            for e in errors(include_input=False, include_url=False)[:5]
        )
        return f"{name}: {where}"
    top = kind.__module__.split(".")[0]
    if top.startswith("avrr_") or top in _KAFKA_CLIENTS or isinstance(exc, OSError):
        return f"{name}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        return f"{name} at {os.path.basename(last.filename)}:{last.lineno} in {last.name}"
    return name


def _stack(exc: BaseException) -> list[str]:
    """Where an exception went through, innermost last, without its message or any value."""
    return [
        f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
    ]


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<name>.+)$')


def _traceback_fields(message: str) -> dict[str, Any] | None:
    """A traceback logged as text (uvicorn's start-up failure) as frames and exception types.

    The lines that are not frames (source lines, each exception's message) are dropped.
    """
    if not message.startswith("Traceback (most recent call last):"):
        return None
    stack: list[str] = []
    errors: list[str] = []
    after_frames = False  # the first unindented line after the frames names the exception
    for line in message.splitlines():
        frame = _FRAME.match(line)
        if frame:
            stack.append(f"{os.path.basename(frame['file'])}:{frame['line']} in {frame['name']}")
            after_frames = True
        elif after_frames and line and not line[0].isspace():
            errors.append(line.split(":", 1)[0].strip().rsplit(".", 1)[-1])
            after_frames = False
    return {
        "message": "uncaught exception",
        "error": " / ".join(errors) or "unknown",
        "stack": stack,
    }


def _access_message(record: logging.LogRecord) -> str | None:
    """uvicorn's access line without the client's address and the query string."""
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return None
    _client, method, path, version, status = args
    return f"{method} {str(path).split('?', 1)[0]} HTTP/{version} {status}"


class _Fields(logging.Formatter):
    """What both formats print: the fields of a record, personal data kept out."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _access_message(record) or record.getMessage(),
            "service": _service.get() or self.service,
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            out["trace_id"] = format(span.trace_id, "032x")
            out["span_id"] = format(span.span_id, "016x")
        out.update(_event.get() or {})
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        logged_traceback = _traceback_fields(out["message"])
        if logged_traceback is not None:
            out.update(logged_traceback)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = error_text(exc)
            out["stack"] = _stack(exc)
        return out


class JsonFormatter(_Fields):
    """One JSON object per line (newlines inside values are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False, default=str)


class TextFormatter(_Fields):
    """The same fields for a person: ``time level service logger: message key=value...``."""

    def format(self, record: logging.LogRecord) -> str:
        f = self.fields(record)
        head = f"{f.pop('time')} {f.pop('level'):<7} {f.pop('service')} {f.pop('logger')}"
        line = f"{head}: {f.pop('message')}"
        stack = f.pop("stack", None)
        rest = " ".join(f"{k}={v}" for k, v in f.items())
        text = f"{line}  {rest}" if rest else line
        return text + ("\n    " + "\n    ".join(stack) if stack else "")


class LogSettings(EnvironmentSettings):
    """How a process writes its log: the format and the level, when not given in code.

    Each field is named like its variable, so that no other variable sets it."""

    avrr_log_format: str | None = from_env(
        "avrr_log_format", FORMAT_VARIABLE, None, "json (the default) or text"
    )
    avrr_log_level: str | None = from_env(
        "avrr_log_level", LEVEL_VARIABLE, None, "the root logger's level (default INFO)"
    )


def configure(
    service: str,
    *,
    format: str | None = None,
    level: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) as JSON lines (or text).

    Replaces the root logger's handlers, and makes uvicorn's loggers, which
    configure their own handlers, go through the same one (run uvicorn with
    ``log_config=None``). ``format`` and ``level`` default to AVRR_LOG_FORMAT
    (``json``) and AVRR_LOG_LEVEL (``INFO``).
    """
    settings = LogSettings()
    chosen = (format or settings.avrr_log_format or "json").lower()
    if chosen not in ("json", "text"):
        raise ValueError(f"{FORMAT_VARIABLE} must be json or text, not {chosen!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service) if chosen == "json" else TextFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or settings.avrr_log_level or "INFO").upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # httpx logs every request's full URL at INFO, case ids included (the demo and the
    # CLI call the services): only its warnings go out, like our own route-template lines.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
