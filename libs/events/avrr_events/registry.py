"""Event types, their versions, their JSON Schemas and the upcasters between versions.

Events are immutable: a change of payload shape is a new version of the type,
and an upcaster turns the stored or received older payload into the current
one, so history written years ago stays readable. Decoding is the one place
where an inbound payload is validated; everything that fails here is
dead-lettered by the consumer instead of being half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avrr_events.envelope import Envelope

SCHEMA_BASE = "urn:avrr:schema"


class DomainEvent(BaseModel):
    """Base of every event payload.

    Subclasses set ``event_type`` (``avrr.<service>.<Name>``) and, when their
    shape changes, bump ``event_version`` and register an upcaster.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1


class ObservedEvent(DomainEvent):
    """Base for another service's event as a consumer reads it (tolerant reader).

    A consumer declares only the fields it needs and ignores the rest, so the
    publisher can add fields without breaking it; the contract tests check
    these models against the publisher's schema.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


class ObservedCaseEvent(ObservedEvent):
    """Another service's event about one case, as a consumer reads it: its first field
    names the case (the Kafka key and CloudEvents subject its publisher sets)."""

    case_id: str = Field(min_length=1, max_length=100)


class EventDecodeError(ValueError):
    """An envelope that cannot become a domain event; ``reason`` is a short category."""

    reason = "invalid_event"


class UnknownEventType(EventDecodeError):
    reason = "unknown_type"


class UnsupportedVersion(EventDecodeError):
    reason = "unsupported_version"


class InvalidPayload(EventDecodeError):
    reason = "invalid_payload"


E = TypeVar("E", bound=type[DomainEvent])
D = TypeVar("D", bound=DomainEvent)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def dataschema_uri(event_type: str, version: int) -> str:
    """The URI of the published JSON Schema of one version of one event type."""
    return f"{SCHEMA_BASE}:{event_type}:v{version}"


def declared_events(namespace: Mapping[str, object], base: type[D]) -> tuple[type[D], ...]:
    """The event types a module declares, in the order it declares them.

    Called with the module's ``globals()`` after its last event class, so that the
    module's list of events is its declarations themselves, not a second copy a new
    event could be missing from. A class counts when it is a ``base``, was defined in
    that module (an event imported from another module is that module's) and names its
    own ``event_type`` (a shared base such as an officer's-reason event does not).
    """
    module = namespace["__name__"]
    return tuple(
        value
        for value in namespace.values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value.__module__ == module
        and "event_type" in vars(value)
    )


class EventRegistry:
    """The event types one service writes or reads, by type name."""

    def __init__(self, events: Iterable[type[DomainEvent]] = ()) -> None:
        self._types: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for cls in events:
            self.register(cls)

    def register(self, cls: E) -> E:
        """Register an event class (usable as a decorator)."""
        existing = self._types.get(cls.event_type)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.event_type} registered twice")
        self._types[cls.event_type] = cls
        return cls

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the function that turns version ``from_version`` into ``from_version + 1``."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def include(self, other: EventRegistry) -> None:
        """Adopt every type and upcaster of another registry (a service's own + observed)."""
        for cls in other._types.values():
            self.register(cls)
        self._upcasters.update(other._upcasters)

    def handles(self, event_type: str) -> bool:
        return event_type in self._types

    def event_class(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    @property
    def types(self) -> dict[str, type[DomainEvent]]:
        return dict(self._types)

    def decode(self, envelope: Envelope) -> DomainEvent:
        """Upcast and validate an envelope's data into the current event class."""
        return self.decode_data(envelope.type, envelope.dataversion, envelope.data)

    def decode_data(self, event_type: str, version: int, data: dict[str, Any]) -> DomainEvent:
        """``decode`` of an event's type, data version and data as the store keeps them, for
        a read that selects only these columns (``Repository.events_after``)."""
        cls = self.event_class(event_type)
        current = self.upcast(event_type, version, data)
        try:
            return cls.model_validate(current)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "data"
            raise InvalidPayload(f"{event_type} v{version}: {where}: {err['msg']}") from exc

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Bring ``data`` of ``version`` up to the registered class's version."""
        current = self.event_class(event_type).event_version
        if version > current:
            raise UnsupportedVersion(
                f"{event_type} v{version} is newer than the v{current} this service understands"
            )
        while version < current:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnsupportedVersion(f"no upcaster for {event_type} from v{version}")
            data = step(data)
            version += 1
        return data

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema (2020-12) of every registered type's current version, keyed by its URI."""
        schemas: dict[str, dict[str, Any]] = {}
        for event_type, cls in sorted(self._types.items()):
            uri = dataschema_uri(event_type, cls.event_version)
            schema = cls.model_json_schema()
            schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            schema["$id"] = uri
            schema["title"] = event_type
            schema["x-event-version"] = cls.event_version
            schemas[uri] = schema
        return schemas
