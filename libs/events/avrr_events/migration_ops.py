"""What the services' schema revisions have in common, written once (Alembic operations).

A revision is history: it must build, for every database that ever runs it,
the tables as they were on the day it was written, whatever the tables in code
(``tables.py``, ``public.py``, ``handover.py``, ``withdrawal.py``) have become
since. So nothing here reads a table from code, and every table and column
declared here is frozen (their docstrings say so): once a revision calls it, it
never changes; a later change of a table is a new revision, never an edit here
(and a new function here when several services need the same one).

A revision that creates tables declares them, each as ``table(name, columns,
constraints, indexes)`` (what ``op.create_table`` takes), and takes its upgrade
and downgrade from them: ``upgrade, downgrade = creating(table(...), ...)``
creates them in that order and drops them in the reverse one. Each service's
revision calls the shared declarations with its own names, e.g.
``upgrade, downgrade = withdrawal_conflicts("travel_withdrawal_conflicts")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

from avrr_events.places import place

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL (the tables' ``Json``)."""

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""An auto-incremented key: SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL
wants BIGINT (the tables' ``Position``)."""

Step = Callable[[], None]
"""A revision's ``upgrade`` or ``downgrade``."""


def moved_to_the_platform_line() -> None:
    """Upgrade and downgrade of a service revision whose work the platform line now does.

    The services' early revisions created or altered the shared tables
    (events, outbox, inbox, idempotency keys, consumer positions, projection
    checkpoints, the audit log); those tables are the platform line's now
    (``platform_migrations``). The revisions stay, doing nothing, so that
    databases stamped at them keep their history.
    """


@dataclass(frozen=True)
class NewTable:
    """A table as a revision creates it: its name, then its columns, constraints and
    indexes (``sa.Index``) in the order ``op.create_table`` takes them (SQLite keeps
    the CREATE TABLE text, constraints in that order). ``op.create_table`` copies items
    a previous run attached to a table, so a revision may run again in one process."""

    name: str
    items: tuple[SchemaItem, ...]


def table(name: str, *items: SchemaItem) -> NewTable:
    """``NewTable(name, items)``, written like ``op.create_table(name, *items)``."""
    return NewTable(name, items)


def create(*tables: NewTable) -> None:
    """Create ``tables`` in the order given, each with its indexes."""
    for created in tables:
        op.create_table(created.name, *created.items)


def drop(*tables: NewTable) -> None:
    """Undo ``create``: drop ``tables`` in the reverse order (their indexes go with them)."""
    for dropped in reversed(tables):
        op.drop_table(dropped.name)


def creating(*tables: NewTable) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that creates ``tables`` and does nothing else."""
    return partial(create, *tables), partial(drop, *tables)


def add_index(table_name: str, name: str, *columns: str, unique: bool = False) -> None:
    """Index ``columns`` of a table that already holds rows, unless the index is there
    (``unique``: refusing a second row with the same values; the build fails, naming them,
    if the table already holds two).

    Never ``CREATE INDEX CONCURRENTLY``: an upgrade is one transaction holding the schema's
    advisory lock (``avrr_events.migrations.upgrade``), and PostgreSQL refuses CONCURRENTLY
    in a transaction; the plain build locks the table against writes (reads go on) while it
    runs. Hence IF NOT EXISTS: an operator of a large database builds the index
    CONCURRENTLY under the same name before the upgrade, which then leaves it."""
    op.create_index(name, table_name, list(columns), unique=unique, if_not_exists=True)


def drop_index(table_name: str, name: str) -> None:
    """Undo ``add_index``."""
    op.drop_index(name, table_name=table_name, if_exists=True)


def indexing(table_name: str, name: str, *columns: str, unique: bool = False) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that adds one index (``add_index``) and does
    nothing else."""
    return (
        partial(add_index, table_name, name, *columns, unique=unique),
        partial(drop_index, table_name, name),
    )


def destination(*, nullable: bool = False) -> tuple[sa.Column[str], sa.Column[str]]:
    """``destination_country`` (ISO 3166-1 alpha-2; ``nullable`` where a case may not have
    one yet) and ``destination_region`` (the text given, optional), as eligibility's,
    travel's and reintegration's first revisions declared a destination. Frozen."""
    return (
        sa.Column("destination_country", sa.String(length=2), nullable=nullable),
        sa.Column("destination_region", sa.String(length=100), nullable=True),
    )


def region_key() -> sa.Column[str]:
    """A destination's place key (``avrr_events.places``), as eligibility_0001 declared it and
    travel_0004 added it. Frozen."""
    return sa.Column("region_key", sa.String(length=100), nullable=True)


def case_table(name: str, *items: SchemaItem) -> NewTable:
    """A table of rows that belong to a case: ``case_id`` (the id of the case's streams,
    String(100), NOT NULL) first, then ``items`` (the key is among them), as every
    service's revisions declared it (``tables.case_table`` today). Frozen."""
    return table(name, sa.Column("case_id", sa.String(length=100), nullable=False), *items)


def case_entries(
    name: str, *columns: SchemaItem, number: str = "id", event_id: bool = False
) -> NewTable:
    """A table of many rows per case, numbered in write order (``number``) with ``case_id``
    indexed, and with ``event_id`` the unique id of the event each row enters, as travel's and
    reintegration's first revisions declared them (``tables.case_entries`` today). Frozen."""
    entered = (sa.Column("event_id", sa.String(length=100), nullable=False),) if event_id else ()
    return table(
        name,
        sa.Column(number, SERIAL, autoincrement=True, nullable=False),
        *entered,
        sa.Column("case_id", sa.String(length=100), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(number),
        *((sa.UniqueConstraint("event_id"),) if event_id else ()),
        sa.Index(f"ix_{name}_case_id", "case_id"),
    )


def public_outbox() -> NewTable:
    """The notices of public records still to publish (``avrr_events.public``), as intake's and
    travel's first revisions created them. Frozen."""
    return table(
        "public_outbox",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("notice", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def handover_table(name: str) -> NewTable:
    """A hand-over table (``avrr_events.handover``): the office each case was handed over to,
    as intake_0001 and reintegration_0002 created it. Frozen."""
    return case_table(
        name,
        sa.Column("receiving_office", sa.String(length=200), nullable=False),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        sa.Index(f"ix_{name}_receiving_office", "receiving_office"),
    )


def handovers(name: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that adds a service's hand-over table."""
    return creating(handover_table(name))


def withdrawal_conflicts_table(name: str) -> NewTable:
    """The supervisors' list of withdrawal conflicts (``avrr_events.withdrawal``), as
    travel_0003 and reintegration_0004 created it. Frozen."""
    return table(
        name,
        sa.Column("conflict_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("office", sa.String(length=100), nullable=True),
        sa.Column("command", sa.String(length=20), nullable=False),
        sa.Column("conflicting_event_type", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawal", sa.String(length=30), nullable=False),
        sa.Column("withdrawal_event_id", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution", sa.String(length=60), nullable=True),
        sa.Column("reason", JSON, nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("conflict_id"),
        sa.Index(f"{name}_case_idx", "case_id"),
        sa.Index(f"{name}_office_idx", "office", "resolved_at", "detected_at"),
    )


def withdrawal_conflicts(name: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that adds a service's withdrawal conflicts table."""
    return creating(withdrawal_conflicts_table(name))


def case_transfers(name: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that adds a service's table of the office each
    transferred case is with (``avrr_events.transfers.case_transfers_table``), as
    eligibility_0007, travel_0010 and reintegration_0008 created it. Frozen."""
    return creating(
        case_table(
            name,
            sa.Column("office", sa.String(length=100), nullable=False),
            sa.Column("transferred_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("case_id"),
        )
    )


def rekey_places(tables: Mapping[str, str]) -> None:
    """Give the rows written before place keys their place key (``avrr_events.places``).

    ``tables`` maps each table to its key column; every row with a
    ``destination_region`` gets the place rule's ``region_key`` for its
    destination, so that older rows and new ones naming the same place meet.
    """
    bind = op.get_bind()
    for table, id_column in tables.items():
        rows = bind.execute(
            sa.text(
                f"SELECT {id_column} AS id, destination_country, destination_region FROM {table}"
                " WHERE destination_region IS NOT NULL"
            )
        ).all()
        for row in rows:
            key = place(row.destination_country, row.destination_region).region_key
            bind.execute(
                sa.text(f"UPDATE {table} SET region_key = :key WHERE {id_column} = :id"),
                {"key": key, "id": row.id},
            )
