"""avrr_events: what every AVRR service shares, written once.

envelope (CloudEvents on Kafka), registry (types, versions, schemas,
upcasters), store (event store + outbox), outbox (relay), consumer (idempotent
consumer with dead letters), projections (read models, rebuild), personal
(per-person encryption, crypto-shredding), aggregate (aggregates, repository),
and one module per adapter: postgres, kafka, inprocess.

Its names are imported on first use (PEP 562): a process that needs one
module (``python -m avrr_events.serve`` checks its settings before anything
else) does not pay at start for SQLAlchemy, FastAPI and the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avrr_events.adapters.database import Database
    from avrr_events.aggregate import Aggregate, Repository
    from avrr_events.bus import Message, MessageSource, Publisher
    from avrr_events.consumer import Cause, DeadLetter, EventConsumer, HandlerContext
    from avrr_events.envelope import Envelope, EnvelopeError
    from avrr_events.personal import (
        ERASED,
        Encrypted,
        MasterKey,
        PersonalDataCipher,
        SqlKeyStore,
    )
    from avrr_events.projections import Projection, ProjectionRunner
    from avrr_events.registry import (
        DomainEvent,
        EventDecodeError,
        EventRegistry,
        ObservedCaseEvent,
        ObservedEvent,
        dataschema_uri,
    )
    from avrr_events.store import ConcurrencyError, EventStore, RecordedEvent

_MODULES = {
    "Aggregate": "avrr_events.aggregate",
    "Cause": "avrr_events.consumer",
    "ConcurrencyError": "avrr_events.store",
    "Database": "avrr_events.adapters.database",
    "DeadLetter": "avrr_events.consumer",
    "DomainEvent": "avrr_events.registry",
    "ERASED": "avrr_events.personal",
    "Encrypted": "avrr_events.personal",
    "Envelope": "avrr_events.envelope",
    "EnvelopeError": "avrr_events.envelope",
    "EventConsumer": "avrr_events.consumer",
    "EventDecodeError": "avrr_events.registry",
    "EventRegistry": "avrr_events.registry",
    "EventStore": "avrr_events.store",
    "HandlerContext": "avrr_events.consumer",
    "MasterKey": "avrr_events.personal",
    "Message": "avrr_events.bus",
    "MessageSource": "avrr_events.bus",
    "ObservedCaseEvent": "avrr_events.registry",
    "ObservedEvent": "avrr_events.registry",
    "PersonalDataCipher": "avrr_events.personal",
    "Projection": "avrr_events.projections",
    "ProjectionRunner": "avrr_events.projections",
    "Publisher": "avrr_events.bus",
    "RecordedEvent": "avrr_events.store",
    "Repository": "avrr_events.aggregate",
    "SqlKeyStore": "avrr_events.personal",
    "dataschema_uri": "avrr_events.registry",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'avrr_events' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ERASED",
    "Aggregate",
    "Cause",
    "ConcurrencyError",
    "Database",
    "DeadLetter",
    "DomainEvent",
    "Encrypted",
    "Envelope",
    "EnvelopeError",
    "EventConsumer",
    "EventDecodeError",
    "EventRegistry",
    "EventStore",
    "HandlerContext",
    "MasterKey",
    "Message",
    "MessageSource",
    "ObservedCaseEvent",
    "ObservedEvent",
    "PersonalDataCipher",
    "Projection",
    "ProjectionRunner",
    "Publisher",
    "RecordedEvent",
    "Repository",
    "SqlKeyStore",
    "dataschema_uri",
]
