"""eligibility's head revision builds exactly the tables in code, on PostgreSQL and SQLite."""

from __future__ import annotations

from avrr_eligibility.main import service
from avrr_events.testing import assert_head_revision_builds_the_tables_in_code


async def test_eligibility_head_revision_matches_the_tables_in_code(
    database_url_either: str,
) -> None:
    await assert_head_revision_builds_the_tables_in_code(service, database_url_either)
