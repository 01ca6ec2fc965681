"""The one envelope every AVRR event travels in: CloudEvents 1.0, Kafka binary binding.

Why CloudEvents: government systems and partners subscribe to our topics with
off-the-shelf SDKs; the binary binding keeps the payload as plain JSON in the
record value and the attributes in ``ce_*`` headers, so a subscriber can route
on headers without parsing the body. The record key is the case id (the
CloudEvents ``subject``): Kafka then keeps every case's events in order on one
partition.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avrr_events.bus import Message

CE_PREFIX = "ce_"
CONTENT_TYPE = "application/json"

# Attributes carried as ``ce_<name>`` headers, in the order we write them.
_HEADER_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "dataschema",
    "dataversion",
    "correlationid",
    "causationid",
    "traceparent",
    "tracestate",
)


class EnvelopeError(ValueError):
    """A Kafka record that is not a well-formed AVRR CloudEvent."""


def utc(moment: datetime) -> datetime:
    """A time of the platform in UTC: an aware time converted, a naive one taken as UTC.

    Every time the platform writes is UTC, but SQLite hands stored
    ``DateTime(timezone=True)`` values back without their offset; encoded as
    such they made ``ce_time`` values like ``2026-12-06T17:50:28.643864``,
    which are not RFC 3339 and which the CloudEvents SDK refuses. Anything that
    turns a stored time into a record goes through here.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def wire_time(moment: datetime) -> str:
    """``ce_time`` as written on every record: RFC 3339 in UTC, ``Z`` suffix."""
    return utc(moment).isoformat().replace("+00:00", "Z")


def new_event_id() -> str:
    """Event ids are random UUIDs: unique across services without coordination."""
    return str(uuid.uuid4())


# The namespace of the ids of events written in reaction to another event.
_REACTION_IDS = uuid.UUID("6f1d4c52-0d7e-4b8a-9a57-0c3f3c1e2b71")


def reaction_event_id(stream_id: str, version: int, event_type: str) -> str:
    """The id of an event of ``event_type`` a reaction writes at ``version`` of a stream.

    Derived, not random: a reaction that writes the same kind of event at the
    same version of the same stream writes an event of the same id, which
    every subscriber's inbox already holds. That is what happens when a
    service restored from a backup reads again the events since its backup:
    its reactions write again what they wrote then, and no subscriber takes
    it in twice. Not derived from the causing event: which of two events
    that have the same effect (a case's withdrawal, and its assessment closed
    because of it) is read first after a restore is not what it was the first
    time. (Outside a restore (stream, version) is unique, so the ids are.)
    """
    return str(uuid.uuid5(_REACTION_IDS, f"{stream_id}/{version}/{event_type}"))


class Envelope(BaseModel):
    """A CloudEvent with the AVRR extensions (correlation, causation, trace, data version).

    ``dataversion`` is the version of the payload schema; ``dataschema`` names
    the published JSON Schema of exactly that version, so a subscriber can
    validate what it receives.
    """

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=new_event_id, min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    dataversion: int = Field(ge=1)
    correlationid: str
    causationid: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _in_utc(cls, moment: datetime) -> datetime:
        return utc(moment)

    def to_message(self, topic: str) -> Message:
        """Encode as a Kafka record in CloudEvents binary content mode."""
        headers: list[tuple[str, bytes]] = [("content-type", CONTENT_TYPE.encode())]
        for name in _HEADER_ATTRIBUTES:
            value = getattr(self, name)
            if value is None:
                continue
            text = wire_time(value) if isinstance(value, datetime) else str(value)
            headers.append((CE_PREFIX + name, text.encode()))
        return Message(
            topic=topic,
            key=self.subject.encode(),
            value=json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode(),
            headers=tuple(headers),
        )

    @classmethod
    def from_message(cls, message: Message) -> Envelope:
        """Decode a binary-mode CloudEvent; raise EnvelopeError with the reason if it is not one."""
        # The consumer calls this for every record it reads: the header names of
        # the fields are looked up in one table (``_FIELD_OF_HEADER``), and only
        # the fields' values are kept. Every ``ce_*`` header must still be UTF-8.
        known: dict[str, Any] = {}
        for name, raw in message.headers:
            field = _FIELD_OF_HEADER.get(name)
            if field is None and not name.startswith(CE_PREFIX):
                continue
            try:
                text = raw.decode()
            except UnicodeDecodeError as exc:
                raise EnvelopeError(f"header {name} is not UTF-8") from exc
            if field is not None:
                known[field] = text
        if known.get("specversion") != "1.0":
            raise EnvelopeError("not a CloudEvents 1.0 binary-mode record (ce_specversion missing)")
        data = _json_object(message.value)
        if "time" in known and not _has_offset(known["time"]):
            # RFC 3339 (and so CloudEvents) requires the offset: a time without
            # one names no instant, and the SDK refuses the record.
            raise EnvelopeError(f"ce_time {known['time']!r} has no timezone offset")
        try:
            return cls(**known, data=data)
        except ValidationError as exc:
            raise EnvelopeError(f"invalid CloudEvent attributes: {_first_error(exc)}") from exc


# ``ce_<field>`` -> field, for every field of the envelope but ``data`` (the record's value).
_FIELD_OF_HEADER = {
    CE_PREFIX + name: name for name in Envelope.__pydantic_fields__ if name != "data"
}


def _json_object(value: bytes) -> dict[str, Any]:
    """A record's value as the JSON object it must be, or EnvelopeError saying why not.

    Decoded as UTF-8 first: ``json.loads`` of bytes detects the encoding of
    every record. Whatever that fast path refuses is read as before, bytes and
    all (a byte-order mark, JSON in UTF-16 or -32), and only that reading's
    failure refuses the record.
    """
    try:
        data = json.loads(value.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        try:
            data = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"event data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("event data must be a JSON object")
    return data


def _has_offset(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return True  # not a time at all: the model says so, with the field


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"
