"""What the services' schema revisions have in common, written once (Alembic operations).

A revision is history: it must build, for every database that ever runs it,
the tables as they were on the day it was written, whatever the tables in code
(``tables.py``, ``public.py``, ``handover.py``, ``withdrawal.py``) have become
since. So nothing here reads a table from code, and no function here changes
once a revision calls it: a later change of a table is a new revision (and a
new function here when several services need the same one).

Each service's revision calls these with its own names; a revision that does
nothing else takes its upgrade and downgrade from one line, e.g.
``upgrade, downgrade = withdrawal_conflicts("travel_withdrawal_conflicts")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

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


def create_public_outbox() -> None:
    """The notices of public records still to publish (``avrr_events.public``)."""
    op.create_table(
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


def create_handovers(table: str) -> None:
    """A hand-over table (``avrr_events.handover``): the office each case was handed over to."""
    op.create_table(
        table,
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("receiving_office", sa.String(length=200), nullable=False),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{table}_receiving_office"), ["receiving_office"], unique=False
        )


def drop_handovers(table: str) -> None:
    """Undo ``create_handovers``."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(f"ix_{table}_receiving_office"))
    op.drop_table(table)


def handovers(table: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that adds a service's hand-over table."""
    return partial(create_handovers, table), partial(drop_handovers, table)


def create_withdrawal_conflicts(table: str) -> None:
    """The supervisors' list of withdrawal conflicts (``avrr_events.withdrawal``)."""
    op.create_table(
        table,
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
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(f"{table}_case_idx", ["case_id"], unique=False)
        batch_op.create_index(
            f"{table}_office_idx", ["office", "resolved_at", "detected_at"], unique=False
        )


def drop_withdrawal_conflicts(table: str) -> None:
    """Undo ``create_withdrawal_conflicts``."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_index(f"{table}_office_idx")
        batch_op.drop_index(f"{table}_case_idx")
    op.drop_table(table)


def withdrawal_conflicts(table: str) -> tuple[Step, Step]:
    """Upgrade and downgrade of a revision that adds a service's withdrawal conflicts table."""
    return partial(create_withdrawal_conflicts, table), partial(drop_withdrawal_conflicts, table)


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
