"""AsyncAPI 3.0 documents generated from the event registry: what subscribers build against.

One document per service: the domain topic it publishes (every own event type
as a message with its JSON Schema payload and CloudEvents headers), the topics
of other services it consumes, its dead-letter topic, and the public
integration topics it publishes for government subscribers (``public.py``). Schemas come from
the same pydantic models that validate the events, so the document cannot
drift from the code.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

from avrr_events.public import PublicChannel
from avrr_events.registry import DomainEvent, EventRegistry, dataschema_uri

_CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary binding: attributes as ce_ headers",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "event id (UUID)"},
        "ce_source": {"type": "string", "description": "/avrr/<service>"},
        "ce_type": {"type": "string", "description": "avrr.<service>.<Name>"},
        "ce_subject": {"type": "string", "description": "case id (also the record key)"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_dataschema": {"type": "string", "description": "URI of the payload schema"},
        "ce_dataversion": {"type": "string", "description": "payload schema version"},
        "ce_correlationid": {"type": "string"},
        "ce_causationid": {"type": "string"},
        "ce_traceparent": {"type": "string", "description": "W3C trace context"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}

_DLQ_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "the original record's headers plus why it was dead-lettered",
    "properties": {
        "dlq_reason": {
            "type": "string",
            "enum": [
                "undecodable",
                "unknown_type",
                "unsupported_version",
                "invalid_payload",
                "handler_failed",
                "rejected",
            ],
        },
        "dlq_error": {"type": "string"},
        "dlq_group": {"type": "string"},
        "dlq_topic": {"type": "string"},
        "dlq_partition": {"type": "string"},
        "dlq_offset": {"type": "string"},
        "dlq_attempts": {"type": "string"},
    },
}


def _key(name: str) -> str:
    """AsyncAPI component keys allow letters, digits, '.', '-' and '_'."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


class _Schemas:
    """Collects payload schemas, hoisting pydantic's $defs into components/schemas."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def add(self, cls: type[DomainEvent]) -> dict[str, Any]:
        schema = copy.deepcopy(cls.model_json_schema(ref_template="#/$defs/{model}"))
        renames: dict[str, str] = {}
        for name, definition in schema.pop("$defs", {}).items():
            target = _key(name)
            if target in self.components and self.components[target] != definition:
                target = _key(f"{cls.event_type}.{name}")
            self.components[target] = definition
            renames[name] = target
        text = json.dumps(schema)
        for name, target in renames.items():
            text = text.replace(f'"#/$defs/{name}"', f'"#/components/schemas/{target}"')
        self.components = json.loads(
            json.dumps(self.components).replace('"#/$defs/', '"#/components/schemas/')
        )
        payload: dict[str, Any] = json.loads(text)
        payload["$id"] = dataschema_uri(cls.event_type, cls.event_version)
        return payload


def _message(
    cls: type[DomainEvent], headers: dict[str, Any], key: str, schemas: _Schemas
) -> dict[str, Any]:
    """The AsyncAPI message of an event class: its first docstring line, headers, payload
    schema and what its Kafka key is."""
    return {
        "name": cls.__name__,
        "title": cls.event_type,
        "summary": (cls.__doc__ or "").strip().split("\n")[0] or cls.event_type,
        "contentType": "application/json",
        "headers": headers,
        "payload": schemas.add(cls),
        "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
    }


def asyncapi_document(
    service: str,
    registry: EventRegistry,
    *,
    topic_of: Callable[[str], str],
    observes: Sequence[str] = (),
    dead_letter_topic: str,
    audit_topic: str | None = None,
    public: Sequence[PublicChannel] = (),
    public_topic_of: Callable[[str], str] = lambda channel: f"avrr.public.{channel}",
    kafka_host: str = "localhost:9092",
    version: str = "0.1.0",
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service's topics (as a JSON-able dict)."""
    schemas = _Schemas()
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    by_service: dict[str, list[type[DomainEvent]]] = {}
    for event_type, cls in sorted(registry.types.items()):
        owner = event_type.split(".")[1] if event_type.count(".") >= 2 else service
        by_service.setdefault(owner, []).append(cls)

    for owner in [service, *observes]:
        classes = by_service.get(owner, [])
        channel_id = _key(f"{owner}.events")
        channel_messages: dict[str, Any] = {}
        for cls in classes:
            message_id = _key(cls.event_type)
            messages[message_id] = _message(cls, _CE_HEADERS, "case id", schemas)
            channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": topic_of(owner),
            "description": f"domain events of {owner}, keyed by case id",
            "messages": channel_messages,
        }
        action = "send" if owner == service else "receive"
        operations[_key(f"{action}.{owner}.events")] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel_messages
            ],
        }

    for channel in public:
        _public_channel(channel, public_topic_of, schemas, messages, channels, operations)

    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "a record that could not be handled",
        "contentType": "application/octet-stream",
        "headers": _DLQ_HEADERS,
        "payload": {"description": "the original record value, unchanged"},
    }
    channels["dead-letters"] = {
        "address": dead_letter_topic,
        "description": f"records the {service} consumer could not handle (inspect, redrive)",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    operations["send.dead-letters"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/dead-letters"},
        "messages": [{"$ref": "#/channels/dead-letters/messages/DeadLetter"}],
    }
    if audit_topic is not None:
        _audit_channel(service, audit_topic, messages, channels, operations)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"AVRR {service} events",
            "version": version,
            "description": (
                f"Kafka topics of the {service} service. Every record is a CloudEvent "
                "(binary mode); personal data is only ever an encrypted value."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {"host": kafka_host, "protocol": "kafka", "description": "Kafka cluster"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.components},
    }


def _audit_channel(
    service: str,
    topic: str,
    messages: dict[str, Any],
    channels: dict[str, Any],
    operations: dict[str, Any],
) -> None:
    """The audit chain's heads, anchored outside the service's database (audit_anchor.py)."""
    messages["ChainHeadAnchored"] = {
        "name": "ChainHeadAnchored",
        "title": "avrr.audit.ChainHeadAnchored",
        "summary": "the last audit entry's id and keyed hash, as the database held them",
        "contentType": "application/json",
        "headers": _CE_HEADERS,
        "payload": {
            "type": "object",
            "required": ["sequence", "hash"],
            "properties": {
                "sequence": {"type": "integer", "description": "id of the last audit entry"},
                "hash": {"type": "string", "description": "its HMAC-SHA256, hex"},
            },
        },
        "bindings": {"kafka": {"key": {"type": "string", "description": "service name"}}},
    }
    channels["audit"] = {
        "address": topic,
        "description": (
            f"heads of the {service} audit chain; /audit/verification compares the latest "
            "with the database (no personal data)"
        ),
        "messages": {"ChainHeadAnchored": {"$ref": "#/components/messages/ChainHeadAnchored"}},
    }
    operations["send.audit"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/audit"},
        "messages": [{"$ref": "#/channels/audit/messages/ChainHeadAnchored"}],
    }


def _public_channel(
    channel: PublicChannel,
    topic_of: Callable[[str], str],
    schemas: _Schemas,
    messages: dict[str, Any],
    channels: dict[str, Any],
    operations: dict[str, Any],
) -> None:
    """A public integration topic: its messages carry plaintext, so each says what is in it."""
    channel_id = _key(f"public.{channel.id}")
    channel_messages: dict[str, Any] = {}
    for cls in channel.events:
        message_id = _key(cls.event_type)
        messages[message_id] = _message(cls, _PUBLIC_HEADERS, channel.key, schemas)
        channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
    document: dict[str, Any] = {
        "address": topic_of(channel.address),
        "description": channel.description,
        "messages": channel_messages,
    }
    if channel.parameters:
        document["parameters"] = {
            name: {"description": text} for name, text in channel.parameters.items()
        }
    channels[channel_id] = document
    operations[_key(f"send.public.{channel.id}")] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel_messages],
    }


# A public record's envelope: the same CloudEvents binding, but its subject and
# correlation id are the record's own key, and it carries no trace context.
_PUBLIC_HEADERS: dict[str, Any] = {
    **_CE_HEADERS,
    "description": "CloudEvents 1.0 Kafka binary binding; no internal ids, no trace context",
    "properties": {
        **{
            k: v
            for k, v in _CE_HEADERS["properties"].items()
            if k not in ("ce_traceparent", "ce_causationid")
        },
        "ce_subject": {
            "type": "string",
            "description": "the record key: a country code, or a case reference",
        },
        "ce_correlationid": {"type": "string", "description": "equal to ce_subject"},
    },
}
