"""intake: case notes (a read model of NoteAdded) and the attachment store (each file's facts,
its name and its bytes sealed under its person's key, written with its AttachmentAdded), for
avrr_intake.attachments.

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import JSON, creating, table

revision = "intake_0008"
down_revision: str | None = "intake_0007"

upgrade, downgrade = creating(
    table(
        "intake_case_notes",
        sa.Column("note_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("text", JSON, nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("note_id"),
        sa.Index("intake_case_notes_case_idx", "case_id", "added_at"),
    ),
    table(
        "intake_attachments",
        sa.Column("attachment_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=100), nullable=False),
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("file_name", JSON, nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("attachment_id"),
        sa.Index("intake_attachments_case_idx", "case_id"),
    ),
)
