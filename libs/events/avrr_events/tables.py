"""The tables every service's database has, whatever its domain.

SQLAlchemy owns the schema (and, later, its migrations); the hot paths issue
hand-written statements against these same tables (see ``postgres.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
Position = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("event_id", Uuid(as_uuid=False), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("dataversion", Integer, nullable=False),
    Column("subject", String(200), nullable=False),
    Column("source", String(200), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("data", Json, nullable=False),
    Column("meta", Json, nullable=False),
    # Optimistic concurrency: two writers of the same version of a stream
    # cannot both commit. Nothing table-wide, so writers of different
    # streams never wait for each other.
    UniqueConstraint("stream_id", "version", name="events_stream_version_key"),
)
Index("events_subject_idx", events.c.subject)

# Rows to publish; deleted once the broker acknowledged them. A row the broker
# can never take (a record over its message.max.bytes) is set aside instead:
# failed_at and failure_reason say when and why, the relay skips it, and the
# rows behind it go out (``avrr outbox set-aside`` lists them).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("position", BigInteger, nullable=False),
    Column("topic", String(249), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=True),
    Column("failure_reason", String(500), nullable=True),
)

# Every event a consumer group took in, with its whole envelope: the
# processed-events table that makes redelivery harmless, and the local journal
# that projections are rebuilt from.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("consumer", String(200), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("type", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("envelope", Json, nullable=False),
    Column("topic", String(249), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("consumer", "event_id", name="inbox_consumer_event_key"),
)

# Where each consumer group of the service is in each partition it reads: the
# offset of the next record, written in the transaction that applied the
# records before it (or, when some of them were dead-lettered, once the dead
# letters are out). Kafka's committed offsets say where the group is; this
# table says where this database is, and the consumer resumes from it
# (kafka.KafkaSource), so a database restored from a backup reads again what
# it lost. Records skipped and dead-lettered count: the inbox holds only the
# applied ones.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

projection_checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One data key per person, wrapped by the master key. Deleting the row is the
# crypto-shredding of that person everywhere their data was copied.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Responses of POST requests sent with an Idempotency-Key (see http.py). A row
# is reserved (status NULL) before the command runs, so a concurrent retry of
# the same key waits for the first one instead of writing a second event.
# committed_at is set by the event store in the same atomic write as the
# command's events: a reservation without a response then says whether the
# command took effect. created_at is when the current attempt took the key.
# Only command responses are stored, and they carry ids, never personal data.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(300), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("headers", Json, nullable=True),
    Column("body", Json, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=True),
)


# Not a table of its own: the columns every read model that keeps a place of return
# declares the same way (eligibility's assessments and suspensions, travel's destinations).
def destination_columns() -> list[Column[Any]]:
    """The columns of a place of return: ``destination_country``, ``destination_region``
    as entered (for display) and its ``region_key`` (``avrr_events.places.region_key``;
    NULL for a whole country), which is what suspensions and movements are compared by,
    never the text entered.
    """
    return [
        Column("destination_country", String(2), nullable=False),
        Column("destination_region", String(100), nullable=True),
        Column("region_key", String(100), nullable=True),
    ]


def case_table(name: str, metadata: MetaData, *columns: Column[Any]) -> Table:
    """A read-model table of one row per case (or, with more key ``columns``, per case
    and person, purpose, ...): keyed first by ``case_id``, the id of the case's streams,
    which is what a case's rows are found, rebuilt and erased by in every service.
    """
    return Table(name, metadata, Column("case_id", String(100), primary_key=True), *columns)


def case_entries(
    name: str,
    metadata: MetaData,
    *columns: Column[Any],
    number: str = "id",
    event_id: bool = False,
) -> Table:
    """A read-model table of many rows per case (a ledger, notes, checks), numbered by
    ``number`` in the order they were written, which is each case's event order (one
    case's events arrive in order); ``case_id`` is indexed, as a case's rows are read,
    rebuilt and erased together. With ``event_id``, each row enters one event, whose id
    is unique: a redelivered event is never entered twice.
    """
    entered = [Column("event_id", String(100), nullable=False, unique=True)] if event_id else []
    return Table(
        name,
        metadata,
        Column(number, Position, primary_key=True, autoincrement=True),
        *entered,
        Column("case_id", String(100), nullable=False, index=True),
        *columns,
    )
