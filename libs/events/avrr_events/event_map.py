"""The event map: for every event type, who produces it, who consumes it, what it feeds.

Built from the installed services' own declarations, not from their source
text: each ``Service``'s registry (its own event classes and its
tolerant-reader copies of the others'), its reaction table, its projections
(as its runtime builds them) and its public channels. ``avrr events map``
prints it; docs/event-map.md is its markdown, and a test fails when that file
is stale, so the map a newcomer reads is the wiring that runs.

Two facts have no declaration to read, so they are taken from the code
objects themselves:

- the producing aggregate: the ``Aggregate`` whose ``when`` names the event
  class (else the aggregates defined in the event class's module);
- how a projection that has no ``handlers`` table writes an event: by its
  class (its methods or its module's functions name the class or a base of
  it), by its type name (the name is a string or a key there), or alike for
  every type it follows (nothing names it). A projection with a ``handlers``
  table names the handler itself.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import json
import tempfile
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from avrr_events.adapters.inprocess import InProcessBus
from avrr_events.aggregate import Aggregate
from avrr_events.projections import Projection
from avrr_events.public import PublicEvent
from avrr_events.registry import DomainEvent, ObservedEvent, dataschema_uri
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import Service, ServiceRuntime

REGENERATE = "avrr events map --format markdown > docs/event-map.md"

# Bases every event class has: naming them says nothing about one event.
_BASES: frozenset[type] = frozenset({DomainEvent, ObservedEvent, PublicEvent})

# How a projection writes an event (see the module docstring).
Dispatch = Literal["table", "class", "name", "alike"]
_DISPATCH_TEXT: dict[str, str] = {
    "table": "handlers table",
    "class": "apply, by class",
    "name": "apply, by type name",
    "alike": "apply, alike for every type",
}


@dataclass(frozen=True)
class Producer:
    """The service that owns an event type, the class, and the aggregate that records it."""

    service: str
    event_class: str  # module:qualname
    aggregates: tuple[str, ...]  # module:qualname, usually one


@dataclass(frozen=True)
class Reader:
    """A service's tolerant-reader copy of another service's event (``ObservedEvent``)."""

    service: str
    model: str  # module:qualname


@dataclass(frozen=True)
class Consumer:
    """A reaction of a service to an event (its consumer calls it in the inbox transaction)."""

    service: str
    reaction: str  # module:qualname


@dataclass(frozen=True)
class ProjectionUse:
    """A read model of a service that the event feeds, and the code that writes it."""

    service: str
    projection: str  # the projection's name (``avrr rebuild <service> <name>``)
    handler: str  # module:qualname of the handler (table) or of ``apply``
    dispatch: Dispatch


@dataclass(frozen=True)
class EventEntry:
    """One event type, everything the services declare about it."""

    event_type: str
    version: int
    schema: str
    producers: tuple[Producer, ...]
    readers: tuple[Reader, ...]
    consumers: tuple[Consumer, ...]
    projections: tuple[ProjectionUse, ...]

    @property
    def name(self) -> str:
        return self.event_type.rsplit(".", 1)[-1]

    @property
    def producer_service(self) -> str | None:
        return self.producers[0].service if self.producers else None


@dataclass(frozen=True)
class PublicRecord:
    """A public record type: what a government subscriber reads on ``<prefix>.public.*``."""

    event_type: str
    version: int
    schema: str
    service: str
    channel: str
    event_class: str


@dataclass(frozen=True)
class EventMap:
    """The whole map: every event type of every installed service, and the public records."""

    services: tuple[str, ...]
    events: tuple[EventEntry, ...]
    public: tuple[PublicRecord, ...]

    def event(self, event_type_or_name: str) -> EventEntry:
        """One entry by its type (``avrr.travel.ArrivalConfirmed``) or its short name."""
        for entry in self.events:
            if event_type_or_name in (entry.event_type, entry.name):
                return entry
        raise KeyError(event_type_or_name)

    def findings(self) -> list[str]:
        """What looks loose in the wiring: one sentence per finding, in a stable order."""
        out: list[str] = []
        for e in self.events:
            if not e.producers:
                who = sorted({r.service for r in e.readers} | {c.service for c in e.consumers})
                out.append(f"`{e.event_type}` has no producer; read by {', '.join(who)}.")
            elif len(e.producers) > 1:
                names = ", ".join(p.service for p in e.producers)
                out.append(f"`{e.event_type}` is produced by several services: {names}.")
            for p in e.producers:
                if not p.aggregates:
                    out.append(f"`{e.event_type}` is recorded by no aggregate.")
        unused = [
            f"{r.service} `{_short(r.model)}`"
            for e in self.events
            for r in e.readers
            if r.service not in {c.service for c in e.consumers}
            and r.service not in {u.service for u in e.projections}
        ]
        if unused:
            out.append("Copies no reaction or read model of their service uses: " + _list(unused))
        own = [
            f"{c.service} `{_short(c.reaction)}` ({e.name})"
            for e in self.events
            for c in e.consumers
            if c.service == e.producer_service
        ]
        if own:
            out.append("Reactions of a service to its own events: " + _list(own))
        silent = [e.event_type for e in self.events if not e.consumers and not e.projections]
        if silent:
            out.append(
                "Read by nothing but their aggregate (no reaction, no read model): "
                + _list(f"`{n}`" for n in silent)
            )
        private = [
            e.event_type
            for e in self.events
            if e.producers
            and (e.consumers or e.projections)
            and {c.service for c in e.consumers} | {u.service for u in e.projections}
            == {e.producer_service}
        ]
        if private:
            out.append(
                "Used only by the service that produces them: " + _list(f"`{n}`" for n in private)
            )
        return out


def _list(items: Iterable[str]) -> str:
    return ", ".join(items) + "."


# ------------------------------------------------------------------ building --


def build(services: Sequence[Service] | None = None) -> EventMap:
    """The map of ``services`` (default: every installed one, ``avrr.services``)."""
    if services is None:
        from avrr_events.web.embedded import discover

        services = discover()
    projections = {s.name: projections_of(s) for s in services}
    own: dict[str, list[tuple[Service, type[DomainEvent]]]] = {}
    copies: dict[str, list[tuple[Service, type[DomainEvent]]]] = {}
    for service in services:
        for event_type, cls in service.registry.types.items():
            bucket = copies if issubclass(cls, ObservedEvent) else own
            bucket.setdefault(event_type, []).append((service, cls))
    aggregates = list(_subclasses(Aggregate))
    consumed = {t for s in services for t in s.reactions}
    projected = {t for ps in projections.values() for p in ps for t in p.event_types}
    entries = []
    for event_type in sorted(set(own) | set(copies) | consumed | projected):
        # The producer's class says the version; any class, its or a copy, may be matched on.
        known = [*own.get(event_type, []), *copies.get(event_type, [])]
        versioned = own.get(event_type) or known
        version = max((cls.event_version for _s, cls in versioned), default=1)
        entries.append(
            EventEntry(
                event_type=event_type,
                version=version,
                schema=dataschema_uri(event_type, version),
                producers=tuple(
                    Producer(s.name, _qualified(cls), _recorded_by(cls, aggregates))
                    for s, cls in sorted(own.get(event_type, []), key=lambda p: p[0].name)
                ),
                readers=tuple(
                    Reader(s.name, _qualified(cls))
                    for s, cls in sorted(copies.get(event_type, []), key=lambda p: p[0].name)
                ),
                consumers=tuple(
                    Consumer(s.name, _qualified(fn))
                    for s in sorted(services, key=lambda s: s.name)
                    for fn in s.reactions.get(event_type, ())
                ),
                projections=tuple(
                    _use(name, p, event_type, known)
                    for name in sorted(projections)
                    for p in projections[name]
                    if event_type in p.event_types
                ),
            )
        )
    public = [
        PublicRecord(
            cls.event_type,
            cls.event_version,
            dataschema_uri(cls.event_type, cls.event_version),
            service.name,
            channel.address,
            _qualified(cls),
        )
        for service in services
        if service.public is not None
        for channel in service.public.channels
        for cls in channel.events
    ]
    return EventMap(
        services=tuple(sorted(s.name for s in services)),
        events=tuple(entries),
        public=tuple(sorted(public, key=lambda r: (r.event_type, r.service))),
    )


def projections_of(service: Service) -> list[Projection]:
    """The projections as the service's runtime builds them (never started).

    ``Service.projections`` is a factory over the runtime (read models may need
    its cipher or office registry), so a runtime is assembled on a throw-away
    SQLite file and the in-process bus: nothing connects, nothing is written.
    """
    with tempfile.TemporaryDirectory(prefix="avrr-event-map-") as data:
        settings = ServiceSettings(
            database_url=f"sqlite+aiosqlite:///{Path(data) / service.name}.db",
            kafka_bootstrap_servers=None,
            dev=True,
        )
        return list(ServiceRuntime(service, settings, bus=InProcessBus()).projections)


def _subclasses(cls: type[Aggregate]) -> Iterator[type[Aggregate]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _recorded_by(
    event: type[DomainEvent], aggregates: Sequence[type[Aggregate]]
) -> tuple[str, ...]:
    """The aggregates whose ``when`` names ``event``; else those of the event's module."""
    found = [a for a in aggregates if event in _classes_named(_own_functions(a, "when"))]
    if not found:
        found = [a for a in aggregates if a.__module__ == event.__module__]
    return tuple(sorted(_qualified(a) for a in found))


def _use(
    service: str, projection: Projection, event_type: str, known: Sequence[tuple[Service, type]]
) -> ProjectionUse:
    """How ``projection`` writes ``event_type``: its handler in the table, or its ``apply``."""
    table: Mapping[Any, Any] = getattr(type(projection), "handlers", None) or {}
    for cls, handler in table.items():
        if getattr(cls, "event_type", cls) == event_type:
            return ProjectionUse(service, projection.name, _qualified(handler), "table")
    functions = list(_projection_functions(type(projection)))
    tabled = _tabled(type(projection), projection.event_types)
    named = _classes_named(functions) | {v for v in tabled if isinstance(v, type)}
    strings = _strings_named(functions) | {v for v in tabled if isinstance(v, str)}
    classes = {cls for _s, cls in known}
    dispatch: Dispatch
    if any(issubclass(cls, n) for cls in classes for n in named if n not in _BASES):
        dispatch = "class"
    elif {event_type, event_type.rsplit(".", 1)[-1]} & strings:
        dispatch = "name"
    else:
        dispatch = "alike"
    apply = _apply_of(type(projection))
    return ProjectionUse(service, projection.name, _qualified(apply), dispatch)


def _apply_of(cls: type[Projection]) -> Callable[..., Any]:
    """The ``apply`` or ``apply_batch`` the projection overrides (where its writing starts)."""
    for klass in cls.__mro__:
        if klass is Projection:
            break
        for name in ("apply_batch", "apply"):
            if name in vars(klass):
                return vars(klass)[name]  # type: ignore[no-any-return]
    return Projection.apply


def _own_functions(cls: type, *names: str) -> list[types.FunctionType]:
    return [f for n in names if isinstance(f := vars(cls).get(n), types.FunctionType)]


def _projection_functions(cls: type[Projection]) -> Iterator[types.FunctionType]:
    """The methods of the projection (up to the library's base) and its modules' functions."""
    modules = set()
    for klass in cls.__mro__:
        if klass is Projection or klass is object:
            break
        modules.add(klass.__module__)
        for value in vars(klass).values():
            if isinstance(value, types.FunctionType):
                yield value
    for module in sorted(modules):
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, types.FunctionType) and value.__module__ == module:
                yield value


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _classes_named(functions: Iterable[types.FunctionType]) -> set[type]:
    """The event classes the functions' code names (``case X()``, ``isinstance(e, X)``)."""
    found: set[type] = set()
    for fn in functions:
        for code in _codes(fn.__code__):
            values = [fn.__globals__.get(n) for n in code.co_names]
            # ``observed.ArrivalConfirmed``: a name looked up on a module the code names.
            for module in [v for v in values if isinstance(v, types.ModuleType)]:
                values += [getattr(module, n, None) for n in code.co_names]
            found.update(v for v in values if isinstance(v, type) and issubclass(v, DomainEvent))
    return found - _BASES


def _strings_named(functions: Iterable[types.FunctionType]) -> set[str]:
    """The string constants in the functions' code."""
    found: set[str] = set()
    for fn in functions:
        for code in _codes(fn.__code__):
            found.update(c for c in code.co_consts if isinstance(c, str))
    return found


def _tabled(cls: type, follows: frozenset[str]) -> set[Any]:
    """What the projection's modules hold in their tables (dict keys, sets, tuples, lists),
    except the set of types it follows: following a type is not yet writing it."""
    found: set[Any] = set()
    for klass in cls.__mro__:
        for value in vars(importlib.import_module(klass.__module__)).values():
            if isinstance(value, dict | set | frozenset | tuple | list) and value is not follows:
                found.update(v for v in value if isinstance(v, str | type))
    return found


def _qualified(obj: Any) -> str:
    """``module:qualname`` of a class, function, method or partial."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    obj = getattr(obj, "__func__", obj)
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}:{getattr(obj, '__qualname__', repr(obj))}"


# ----------------------------------------------------------------- rendering --


class Format(enum.StrEnum):
    """What ``avrr events map --format`` writes."""

    markdown = "markdown"
    json = "json"


def render(event_map: EventMap, fmt: Format = Format.markdown) -> str:
    """The map as docs/event-map.md or as JSON."""
    return to_json(event_map) if fmt is Format.json else to_markdown(event_map)


def to_json(event_map: EventMap) -> str:
    """The map as JSON (lists of objects, the same fields as the dataclasses)."""
    return json.dumps(dataclasses.asdict(event_map), indent=2, sort_keys=True) + "\n"


def _short(qualified: str) -> str:
    """``avrr_travel.movement:Movement`` -> ``movement:Movement`` (the package is the service's;
    the library's modules keep theirs)."""
    if qualified.startswith("avrr_events."):
        return qualified
    module, _, name = qualified.partition(":")
    return f"{module.split('.', 1)[-1]}:{name}" if "." in module else qualified


def to_markdown(event_map: EventMap) -> str:
    """docs/event-map.md: an overview table, then one section per event type."""
    lines = [
        "# Event map",
        "",
        f"Generated from the code by `avrr events map` (`{REGENERATE}`);",
        "`tests/test_event_map.py` fails when this file is stale. Do not edit it by hand.",
        "",
        "For every event type: the service, module and aggregate that produce it, its",
        "JSON Schema URI (served at `/events/schemas`), the services that react to it",
        "(reaction tables, `module:function`), and the read models it feeds (projections,",
        "`avrr rebuild <service> <projection>`). Names are `module:qualname`, the module",
        "in the service's package (`avrr_<service>`) unless it names `avrr_events`.",
        "A projection writes an event through its handlers table, or in `apply`: by",
        "class (its code names the class), by type name (a string names the type), or",
        "alike for every type it follows. Field by field, the contracts are in",
        "[events.md](events.md).",
        "",
        f"Services: {', '.join(event_map.services)}.",
        "",
        "| event | producer | reacting services | read models |",
        "|---|---|---|---|",
    ]
    for e in event_map.events:
        reacting = sorted({c.service for c in e.consumers})
        fed = sorted({f"{u.service}:{u.projection}" for u in e.projections})
        lines.append(
            f"| [`{e.event_type}`](#{_anchor(e.event_type)}) | {e.producer_service or '**none**'}"
            f" | {', '.join(reacting) or '-'} | {', '.join(fed) or '-'} |"
        )
    findings = event_map.findings()
    lines += ["", "## What the map shows", ""]
    lines += [f"- {f}" for f in findings] or ["- Nothing loose: every type has one producer."]
    for service in event_map.services:
        owned = [e for e in event_map.events if e.producer_service == service]
        if not owned:
            continue
        lines += ["", f"## {service}"]
        for e in owned:
            lines += ["", *_entry(e)]
    orphans = [e for e in event_map.events if not e.producers]
    if orphans:
        lines += ["", "## Without a producer"]
        for e in orphans:
            lines += ["", *_entry(e)]
    if event_map.public:
        lines += [
            "",
            "## Public records",
            "",
            "Rendered by the publishing service's public relay onto `<prefix>.public.<channel>`",
            "for government subscribers (avrr_events.public); no service consumes them.",
            "",
            "| record | service | channel | class | schema |",
            "|---|---|---|---|---|",
        ]
        for r in event_map.public:
            lines.append(
                f"| `{r.event_type}` v{r.version} | {r.service} | `{r.channel}` "
                f"| `{_short(r.event_class)}` | `{r.schema}` |"
            )
    return "\n".join(lines) + "\n"


def _anchor(event_type: str) -> str:
    return event_type.replace(".", "").lower()


def _entry(e: EventEntry) -> list[str]:
    out = [f"### {e.event_type}", "", f"- schema: `{e.schema}` (version {e.version})"]
    for p in e.producers:
        made_by = ", ".join(f"`{_short(a)}`" for a in p.aggregates) or "no aggregate"
        out.append(f"- producer: {p.service}, `{_short(p.event_class)}`, recorded by {made_by}")
    if not e.producers:
        out.append("- producer: **none**")
    for c in e.consumers:
        out.append(f"- reaction: {c.service}, `{_short(c.reaction)}`")
    for u in e.projections:
        how = _DISPATCH_TEXT[u.dispatch]
        out.append(f"- read model: {u.service} `{u.projection}`, `{_short(u.handler)}` ({how})")
    for r in e.readers:
        out.append(f"- read as: {r.service}, `{_short(r.model)}`")
    return out
