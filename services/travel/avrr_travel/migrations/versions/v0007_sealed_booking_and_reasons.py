"""travel: booking references and the officers' cancellation reasons, encrypted.

``sealed_booking_reference`` holds a ticket's booking reference as an
``avrr_events.Encrypted`` value under the principal traveller's key, and
``cancellation_details`` the reason a travel officer gave for a cancellation:
an erasure shreds both. ``booking_reference`` keeps the plaintext of rows
written from older events (it is never written again).

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from avrr_events.migration_ops import JSON

revision = "travel_0007"
down_revision: str | None = "travel_0006"


def upgrade() -> None:
    op.add_column("travel_movements", sa.Column("sealed_booking_reference", JSON, nullable=True))
    op.add_column("travel_movements", sa.Column("cancellation_details", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("travel_movements") as batch:
        batch.drop_column("cancellation_details")
        batch.drop_column("sealed_booking_reference")
