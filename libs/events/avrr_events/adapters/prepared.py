"""Reads that run on every request, compiled once and sent straight to asyncpg.

A detail read asks the database a few small questions before it answers: the
offices of the case (office scoping, in ``authorize``), the case's read-model
row, the data keys of the people in it. Through SQLAlchemy Core each of them
built a ``select``, computed its cache key, set up an execution context and
wrapped the result, and checked a connection out of the pool and back in:
py-spy put SQLAlchemy on 35-42% of a detail read's samples, several times the
queries themselves (docs/benchmarks.md, "Prepared reads").

A ``PreparedRead`` is one such statement, written once in SQLAlchemy Core and
compiled once for PostgreSQL. On PostgreSQL, outside any transaction, it runs
as the asyncpg statement (prepared and cached by asyncpg per connection) on
the connection at hand or on one of the database's parked driver connections;
anywhere else (SQLite, the unit of work of a command, a projection's
transaction) it runs through SQLAlchemy as before, so a command still reads
its own writes. Either way the caller gets the same values: the PostgreSQL
dialect decodes JSON in the driver's codec, and none of the column types used
here has a result processor of its own (a statement with one stays on SQLAlchemy).
Rows are named tuples: ``row.office``, ``row[0]``, ``row._mapping``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Float, Numeric, Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events.adapters.database import Database
from avrr_events.adapters.postgres import driver_connection

_POSTGRES = asyncpg_dialect()  # type: ignore[no-untyped-call]


class PreparedRead:
    """One hot read: ``statement`` on PostgreSQL through asyncpg, ``portable`` elsewhere.

    ``portable`` (default: ``statement``) is the same question in a form every
    database answers, for when the PostgreSQL form uses what SQLite lacks
    (``= ANY(array)`` for a list of keys). Both take the same named parameters.
    """

    def __init__(self, statement: Select[Any], portable: Select[Any] | None = None) -> None:
        self.statement = statement
        self.portable = statement if portable is None else portable
        compiled = statement.compile(dialect=_POSTGRES)
        self.sql = str(compiled)
        self._binds: Sequence[str] = tuple(compiled.positiontup or ())
        columns = list(statement.selected_columns)
        # A column SQLAlchemy converts after the driver (none of the case tables' types
        # so far) keeps the statement on SQLAlchemy: the values must be the same.
        self._direct = not any(_converted(c.type) for c in columns)
        self._row = _row_type([str(c.key) for c in columns])

    async def rows(self, on: AsyncConnection | Database, **params: Any) -> list[Any]:
        """The rows, on a connection or on a database.

        On a connection, an ``autocommit`` one runs the asyncpg statement, any
        other SQLAlchemy's. On a database, a parked driver connection runs it
        (PostgreSQL; no pool checkout at all), except inside a unit of work (a
        command that may have written what it reads): there, the unit's connection.
        """
        if isinstance(on, Database):
            if self._direct and on.is_postgres and on.unit() is None:
                async with on.driver() as raw:
                    return self._rows(await raw.fetch(self.sql, *self._args(params)))
            async with on.autocommit() as conn:
                return await self.rows(conn, **params)
        if self._direct and on.dialect.name == "postgresql" and _autocommit(on):
            raw = await driver_connection(on)
            return self._rows(await raw.fetch(self.sql, *self._args(params)))
        result = await on.execute(self.portable, params)
        return [self._row(*r) for r in result]

    async def first(self, on: AsyncConnection | Database, **params: Any) -> Any | None:
        """The first row, or None."""
        found = await self.rows(on, **params)
        return found[0] if found else None

    def _args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self._binds]

    def _rows(self, records: Sequence[Any]) -> list[Any]:
        make = self._row
        return [make(*r) for r in records]


_NUMERIC_OID = 1700  # PostgreSQL's numeric, what a Numeric column (not a Float) is created as


def _converted(type_: Any) -> bool:
    """Whether SQLAlchemy converts this type's values after asyncpg (when unsure: yes)."""
    impl = type_.dialect_impl(_POSTGRES)
    numeric = isinstance(impl, Numeric) and not isinstance(impl, Float)
    try:
        return impl.result_processor(_POSTGRES, _NUMERIC_OID if numeric else None) is not None
    except Exception:
        return True


def _autocommit(conn: AsyncConnection) -> bool:
    """Whether each statement on ``conn`` is its own transaction (``Database.autocommit``)."""
    return conn.sync_connection is not None and (
        conn.sync_connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    )


def _row_type(names: list[str]) -> type:
    """A named tuple of ``names`` that also answers ``_mapping``, as SQLAlchemy's rows do."""
    base = namedtuple("PreparedRow", names, rename=True)  # type: ignore[misc]

    class PreparedRow(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(zip(self._fields, self, strict=True))

    return PreparedRow
