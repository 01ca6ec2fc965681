"""eligibility's head revision builds exactly the tables in code, on PostgreSQL and SQLite.

A table or column changed without a migration fails here; write the revision
with `avrr migrations new eligibility "<what changed>"` and read it before committing.
"""

from __future__ import annotations

from avrr_eligibility.main import service
from avrr_events.testing import changes_without_revision


async def test_eligibility_head_revision_matches_the_tables_in_code(
    database_url_either: str,
) -> None:
    assert await changes_without_revision(service, database_url_either) == []
