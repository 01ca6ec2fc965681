"""intake: people search (avrr_intake.search), the keyed tokens (blind index) of every
person's name words, date of birth, document and phone, under a number per person; never a
plaintext value. Cases referred before it are indexed by
``avrr rebuild intake intake_people_search``.

Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa

from avrr_events.migration_ops import case_table, creating, table

revision = "intake_0011"
down_revision: str | None = "intake_0010"


def token(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """A 64-bit token in hex."""
    return sa.Column(name, sa.String(length=16), nullable=nullable)


upgrade, downgrade = creating(
    case_table(
        "intake_search_people",
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "person_id"),
        sa.UniqueConstraint("number"),
    ),
    table(
        "intake_search_tokens",
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        token("token"),
        token("exact", nullable=True),
        token("sound", nullable=True),
        sa.PrimaryKeyConstraint("number", "kind", "token"),
        sa.Index("intake_search_tokens_token_idx", "token", "number"),
    ),
)
