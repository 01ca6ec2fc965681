"""eligibility: region keys are place keys (avrr_events.places).

``region_key`` of the assessments and suspensions held a region's text without
accents, case or spaces; it now holds the place rule's key (the ISO 3166-2 code
where the text names a subdivision). The rows written before are re-keyed here,
so a case cleared to "HN-AT" and an older suspension of "Atlántida" meet.

Create Date: 2026-12-06
"""

from __future__ import annotations

from avrr_events.migration_ops import rekey_places

revision = "eligibility_0004"
down_revision: str | None = "eligibility_0003"

TABLES = {"eligibility_assessments": "case_id", "eligibility_suspensions": "place"}


def upgrade() -> None:
    rekey_places(TABLES)


def downgrade() -> None:
    """The older keys are not restored (rebuild the read model from the journal instead)."""
