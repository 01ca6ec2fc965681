"""avrr_events: what every AVRR service shares, written once.

envelope (CloudEvents on Kafka), registry (types, versions, schemas,
upcasters), store (event store + outbox), outbox (relay), consumer (idempotent
consumer with dead letters), projections (read models, rebuild), personal
(per-person encryption, crypto-shredding), aggregate (aggregates, repository),
and one module per adapter: postgres, kafka, inprocess.
"""

from avrr_events.aggregate import Aggregate, Repository
from avrr_events.bus import Message, MessageSource, Publisher
from avrr_events.consumer import Cause, DeadLetter, EventConsumer, HandlerContext
from avrr_events.database import Database
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
    ObservedEvent,
    dataschema_uri,
)
from avrr_events.store import ConcurrencyError, EventStore, RecordedEvent

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
