"""intake: an attachment's sealed bytes may rest in an S3-compatible object store
(AVRR_ATTACHMENT_STORE=s3): ``sealed`` may then be empty and ``object_key`` names the
object (avrr_intake.attachments.ObjectStore).

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "intake_0010"
down_revision: str | None = "intake_0009"

TABLE = "intake_attachments"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("sealed", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("object_key", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Only while every file is in the database: a file in the object store has no bytes here."""
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("object_key")
        batch.alter_column("sealed", existing_type=sa.LargeBinary(), nullable=False)
