"""A prepared read answers exactly what the same SQLAlchemy select answers, on every path.

The hot reads of a detail request (the case row, the offices of a case, the
data keys) run as asyncpg statements on PostgreSQL outside a transaction and
through SQLAlchemy elsewhere; whichever runs, the caller sees the same values
(JSON decoded, times with their zone, booleans, numbers), and a command's unit
of work reads its own uncommitted writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from avrr_events import Database, MasterKey, SqlKeyStore
from avrr_events.adapters.prepared import PreparedRead
from avrr_events.projections import case_office, case_row
from avrr_events.tables import case_table

metadata = sa.MetaData()
# One column of each kind a case's read model holds.
KINDS: dict[str, sa.types.TypeEngine[Any]] = {
    "version": sa.Integer(),
    "office": sa.String(100),
    "minor": sa.Boolean(),
    "updated_at": sa.DateTime(timezone=True),
    "detail": sa.JSON(),
}
files = case_table(
    "prepared_case_files", metadata, *(sa.Column(name, kind) for name, kind in KINDS.items())
)
amounts = case_table("prepared_amounts", metadata, sa.Column("amount", sa.Numeric(12, 2)))

DETAIL = {"household": [{"person_id": "p-1", "personal": {"v": 1, "ct": "x"}}], "n": 1.5}
AT = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


async def _seed(db: Database) -> None:
    await db.create_tables(metadata)
    async with db.transaction() as conn:
        await conn.execute(
            files.insert(),
            [
                {"case_id": "c-1", "version": 3, "office": "MX-TAP", "minor": True,
                 "updated_at": AT, "detail": DETAIL},
                {"case_id": "c-2", "version": 1, "office": None, "minor": False,
                 "updated_at": None, "detail": {}},
            ],
        )  # fmt: skip
        await conn.execute(amounts.insert(), [{"case_id": "c-1", "amount": Decimal("0.01")}])


async def test_the_case_row_is_the_same_as_sqlalchemys(any_db: Database) -> None:
    await _seed(any_db)
    async with any_db.autocommit() as conn:
        for case_id in ("c-1", "c-2"):
            by_case = sa.select(files).where(files.c.case_id == case_id)
            expected = (await conn.execute(by_case)).one()
            row = await case_row(conn, files, case_id)
            assert row is not None
            assert tuple(row) == tuple(expected)
            assert row._mapping == dict(expected._mapping)
            assert row.detail == expected.detail and row.updated_at == expected.updated_at
        assert await case_row(conn, files, "c-none") is None
        expected = (await conn.execute(sa.select(files).where(files.c.case_id == "c-1"))).one()
    got = await case_row_via_db(any_db, "c-1")
    assert got is not None and tuple(got) == tuple(expected)
    assert got.detail == DETAIL and got.minor is True


BY_CASE = PreparedRead(sa.select(files).where(files.c.case_id == sa.bindparam("case_id")))


async def case_row_via_db(db: Database, case_id: str) -> Any:
    """The row read on the database: a parked driver connection on PostgreSQL."""
    return await BY_CASE.first(db, case_id=case_id)


async def test_the_offices_of_a_case(any_db: Database) -> None:
    await _seed(any_db)
    async with any_db.autocommit() as conn:
        assert await case_office(conn, files, "c-1") == frozenset({"MX-TAP"})
        assert await case_office(conn, files, "c-2") == frozenset()
        assert await case_office(conn, files, "c-none") is None


async def test_amounts_are_decimals_as_sqlalchemy_gives_them(any_db: Database) -> None:
    await _seed(any_db)
    async with any_db.autocommit() as conn:
        row = await case_row(conn, amounts, "c-1")
        floats = PreparedRead(sa.select(amounts.c.amount.cast(sa.Float).label("amount")))
        assert not floats._direct, "a value SQLAlchemy converts stays on SQLAlchemy"
    assert row is not None and row.amount == Decimal("0.01")
    assert isinstance(row.amount, Decimal)


async def test_a_unit_of_work_reads_its_own_writes(any_db: Database) -> None:
    await _seed(any_db)
    async with any_db.unit_of_work() as unit:
        await unit.execute(
            files.insert().values(case_id="c-3", version=1, office="GT-GUA", minor=False, detail={})
        )
        async with any_db.autocommit() as conn:
            row = await case_row(conn, files, "c-3")
        assert row is not None and row.office == "GT-GUA"
        via_db = await case_row_via_db(any_db, "c-3")
        assert via_db is not None


@pytest.mark.parametrize("subjects", [["p-1"], ["p-1", "p-2", "p-9"], []])
async def test_keys_of_many_subjects(any_db: Database, subjects: list[str]) -> None:
    keys = SqlKeyStore(any_db, MasterKey.from_env(allow_dev=True))
    made = {s: await keys.get_or_create(s) for s in ("p-1", "p-2")}
    got = await keys.get_many(subjects)
    assert got == {s: made[s] for s in subjects if s in made}
