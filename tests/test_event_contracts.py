"""Contracts between services: what a consumer reads is what the publisher writes.

Each consumer declares the other services' events it reacts to as tolerant
readers (ObservedEvent). These tests hold every such model against the
publisher's own event class: the type exists, the version matches (or an
upcaster is owed), every field the consumer needs is written by the publisher
with a compatible JSON type, and nullability never surprises the consumer.
"""

from __future__ import annotations

from typing import Any

import pytest

from avrr_events.registry import DomainEvent
from avrr_events.web.embedded import discover
from avrr_events.web.service import Service

SERVICES = {s.name: s for s in discover()}


def observed_pairs() -> list[tuple[str, str, type[DomainEvent], type[DomainEvent] | None]]:
    pairs = []
    for consumer in SERVICES.values():
        for event_type, cls in sorted(consumer.registry.types.items()):
            owner = event_type.split(".")[1]
            if owner == consumer.name:
                continue
            publisher: Service | None = SERVICES.get(owner)
            published = publisher.registry.types.get(event_type) if publisher else None
            pairs.append((consumer.name, event_type, cls, published))
    return pairs


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return _resolve(root["$defs"][ref.rsplit("/", 1)[-1]], root)
    return schema


def json_types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    """The JSON types a property may take ('null' included when it is optional-nullable)."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return set().union(*(json_types(s, root) for s in schema["anyOf"]))
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return {
            "null" if v is None else "string" if isinstance(v, str) else "number" for v in values
        }
    kind = schema.get("type")
    if kind == "integer":
        return {"number"}
    if isinstance(kind, str):
        return {kind}
    return {"object"} if "properties" in schema else {"any"}


PAIRS = observed_pairs()


@pytest.mark.parametrize(
    ("consumer", "event_type", "observed", "published"),
    PAIRS,
    ids=[f"{c}<-{t}" for c, t, _, _ in PAIRS],
)
def test_a_consumer_reads_only_what_the_publisher_writes(
    consumer: str,
    event_type: str,
    observed: type[DomainEvent],
    published: type[DomainEvent] | None,
) -> None:
    assert published is not None, f"{consumer} observes {event_type}, which nobody publishes"
    assert observed.event_version == published.event_version, (
        f"{consumer} reads v{observed.event_version} of {event_type}, "
        f"the publisher writes v{published.event_version}: an upcaster is owed"
    )
    mine, theirs = observed.model_json_schema(), published.model_json_schema()
    their_props = theirs.get("properties", {})
    for name, prop in mine.get("properties", {}).items():
        assert name in their_props, f"{consumer} reads {event_type}.{name}, which is never written"
        wanted, written = json_types(prop, mine), json_types(their_props[name], theirs)
        if "any" in wanted or "any" in written:
            continue
        assert written <= wanted, (
            f"{event_type}.{name}: written as {sorted(written)}, "
            f"but {consumer} accepts only {sorted(wanted)}"
        )


def test_every_service_is_installed_and_observes_only_real_publishers() -> None:
    assert set(SERVICES) >= {"intake", "eligibility", "travel", "reintegration"}
    for service in SERVICES.values():
        assert set(service.observes) <= set(SERVICES), service.name
