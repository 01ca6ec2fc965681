"""Importing a programme's existing caseload from a spreadsheet (``avrr import cases``).

What is the same for any import, whichever service's commands it feeds: the
rows of a CSV or XLSX file as the programme keeps them (a header row, then one
row per line; column names compared casefolded, spaces as underscores), the
outcome of each row, and the rejects file (the rejected rows as they were, with
the row number and the reason naming the column). The domain of a row (which
command it becomes, how it is validated) is the service's: it provides a
``CaseloadImporter`` through the entry point group ``avrr.importers``, so this
library never imports a service.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from avrr_events.commands import Principal
from avrr_events.notices.catalogs import N_
from avrr_events.notices.wording import Wording
from avrr_events.personal import KeyStore
from avrr_events.refusals import worded

Status = Literal["created", "already imported", "rejected"]
IMPORTERS = "avrr.importers"  # the entry point group of the services' importers
# What the rejects file puts before the row's own columns (and a rerun on it ignores).
REJECT_COLUMNS = ("row", "reason")


@dataclass(frozen=True)
class SheetRow:
    """One row of the file: its number as the spreadsheet shows it (the header is row 1)."""

    number: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        """The cell's text, trimmed; "" when the column is absent or the cell empty."""
        return self.cells.get(column, "").strip()


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row: the case it made (or had made before), or why it was refused:
    ``reason`` in English (the rejects file), ``wording`` the same reason as a catalog
    message, for an answer in the reader's language."""

    row: int
    status: Status
    case_id: str | None = None
    reason: str | None = None
    wording: Wording | None = field(default=None, compare=False, repr=False)


class UnreadableFile(Exception):
    """The file as a whole cannot be read (missing, unknown format, no header): nothing imported.

    Its text is ``name: why`` in English (the command line's); ``why`` is a catalog message
    too, for an upload's answer in the reader's language."""

    def __init__(self, name: object, why: Wording) -> None:
        super().__init__(f"{name}: {why.english}")
        self.why = why


@dataclass(frozen=True)
class ImportRun:
    """One run of an import: the service's runtime, the file's rows, who imports them, and
    ``advance(n)``, called as rows are done (the progress bar)."""

    runtime: object  # the ServiceRuntime of ``CaseloadImporter.service`` (never serving)
    rows: Sequence[SheetRow]
    actor: Principal
    advance: Callable[[int], None] = lambda _n: None


class CaseloadImporter(Protocol):
    """A service's import of rows into cases (intake's ``avrr_intake.caseload``)."""

    service: str  # the service (``avrr.services``) whose runtime the import runs in
    columns: Sequence[str]  # the documented columns, in the order of the sample file

    async def __call__(self, run: ImportRun) -> list[RowOutcome]:
        """Import every row (a refused row never stops the others); one outcome per row."""
        ...


def column_name(header: object) -> str:
    """``"Date of birth "`` -> ``"date_of_birth"``: how a header cell names its column."""
    return "_".join(str(header or "").strip().casefold().split())


def read_rows(path: Path) -> tuple[list[str], list[SheetRow]]:
    """The header (column names) and the non-empty rows of a ``.csv`` or ``.xlsx`` file."""
    if not path.is_file():
        raise UnreadableFile(path, worded(N_("no such file")))
    return read_table(path.read_bytes(), path.name)


def read_table(data: bytes, name: str) -> tuple[list[str], list[SheetRow]]:
    """The header and the non-empty rows of a file's bytes; ``name``'s suffix tells its kind
    (``.csv``, ``.xlsx``): an upload is read like a file on disk."""
    suffix = Path(name).suffix.casefold()
    if suffix == ".csv":
        table = _csv_table(data, name)
    elif suffix in (".xlsx", ".xlsm"):
        table = _xlsx_table(data, name)
    else:
        kind = suffix or "no suffix"
        raise UnreadableFile(
            name, worded(N_("a .csv or .xlsx file is expected, not %(kind)s"), kind=kind)
        )
    if not table:
        raise UnreadableFile(
            name, worded(N_("the file is empty (the first row names the columns)"))
        )
    header = [column_name(h) for h in table[0]]
    rows = []
    for number, values in enumerate(table[1:], start=2):
        cells = {h: v for h, v in zip(header, values, strict=False) if h}
        if any(v.strip() for v in cells.values()):  # spreadsheets end in empty rows
            rows.append(SheetRow(number, cells))
    return header, rows


def _csv_table(data: bytes, name: str) -> list[list[str]]:
    try:
        # utf-8-sig: the byte-order mark spreadsheet programs write before the header.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            name,
            worded(
                N_("not UTF-8 text (%(reason)s at byte %(start)s)"),
                reason=exc.reason,
                start=exc.start,
            ),
        ) from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t")
    except csv.Error:  # one column, or nothing to tell from: the standard comma
        dialect = csv.excel
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), dialect)]


def _xlsx_table(data: bytes, name: str) -> list[list[str]]:
    """The first sheet's cells as text; dates as ISO dates, whole numbers without ``.0``."""
    import openpyxl  # only for spreadsheets: a CSV import never loads it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors: not a workbook
        raise UnreadableFile(
            name, worded(N_("not a readable XLSX workbook (%(error)s)"), error=str(exc))
        ) from None
    try:
        sheet = book.worksheets[0]
        return [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        # A date typed into a spreadsheet is a datetime at midnight.
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rejects_path(path: Path) -> Path:
    """Where the rejected rows of ``cases.xlsx`` go: ``cases.rejects.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejects.csv")


def write_rejects(
    path: Path, header: Sequence[str], rows: Sequence[SheetRow], outcomes: Sequence[RowOutcome]
) -> int:
    """Write the rejected rows (``row``, ``reason``, then the file's own columns) to ``path``.

    The programme corrects them there and imports the rejects file itself: its
    own columns are the import's. Returns how many rows were rejected; with
    none, a rejects file left by an earlier run is removed.
    """
    refused = {o.row: o.reason or "" for o in outcomes if o.status == "rejected"}
    if not refused:
        path.unlink(missing_ok=True)
        return 0
    columns = [c for c in header if c and c not in REJECT_COLUMNS]
    # Personal data, like the file it comes from: readable by the operator only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*REJECT_COLUMNS, *columns])
        for row in rows:
            if row.number in refused:
                writer.writerow([row.number, refused[row.number], *(row.get(c) for c in columns)])
    return len(refused)


class RunKeys:
    """The key store as one import run sees it: a key it got or created is not asked again.

    An import encrypts five to seven values for each person it creates, each
    asking the store for the person's key (a query, and a transaction for the
    first). Only encryption is cached: decryption still asks the store, so a
    subject shredded meanwhile reads as erased; a value encrypted afterwards
    under the cached key is ciphertext whose key no longer exists.
    """

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._known: dict[str, bytes] = {}

    async def get(self, subject: str) -> bytes | None:
        return await self._keys.get(subject)

    async def get_or_create(self, subject: str) -> bytes:
        key = self._known.get(subject)
        if key is None:
            key = self._known[subject] = await self._keys.get_or_create(subject)
        return key

    async def delete(self, subject: str) -> bool:
        self._known.pop(subject, None)
        return await self._keys.delete(subject)

    async def get_many(self, subjects: Iterable[str]) -> dict[str, bytes]:
        return await self._keys.get_many(subjects)

    async def create_many(self, keys: Mapping[str, bytes]) -> dict[str, bytes]:
        stored = await self._keys.create_many(keys)
        self._known.update(stored)
        return stored


class KeysTaken(Exception):
    """Subjects given a key by ``HeldKeys`` had one already: what was encrypted under the
    new key must be decided again (nothing of it was written)."""


class HeldKeys:
    """The keys of the people a batch of commands creates: made in memory, stored together.

    A new person's key costs the store a read, an insert and a re-read (its own
    transaction, a commit to disk on SQLite), three times a case's events. Here
    a subject without a key in ``known`` gets one made at once, and ``store``
    writes them all in one statement, before the batch's events are written
    (an event never names a key that is not stored). A subject that had a key
    after all (another run's) fails ``store`` with KeysTaken: the batch is then
    decided again one case at a time. Decryption asks the store as ever, but
    for the keys made here, which nobody else has yet.
    """

    def __init__(self, keys: KeyStore, known: Mapping[str, bytes]) -> None:
        self._keys = keys
        self._known = dict(known)
        self._made: dict[str, bytes] = {}

    async def get(self, subject: str) -> bytes | None:
        made = self._made.get(subject)
        return made if made is not None else await self._keys.get(subject)

    async def get_or_create(self, subject: str) -> bytes:
        key = self._made.get(subject) or self._known.get(subject)
        if key is None:
            key = self._made[subject] = AESGCM.generate_key(bit_length=256)
        return key

    async def delete(self, subject: str) -> bool:
        self._made.pop(subject, None)
        self._known.pop(subject, None)
        return await self._keys.delete(subject)

    async def get_many(self, subjects: Iterable[str]) -> dict[str, bytes]:
        wanted = list(subjects)
        found = await self._keys.get_many(s for s in wanted if s not in self._made)
        return found | {s: self._made[s] for s in wanted if s in self._made}

    async def create_many(self, keys: Mapping[str, bytes]) -> dict[str, bytes]:
        return await self._keys.create_many(keys)

    async def store(self) -> int:
        """Store the keys made (one statement); how many. KeysTaken if a subject had one."""
        made, self._made = self._made, {}
        stored = await self._keys.create_many(made)
        taken = sorted(s for s, key in made.items() if stored.get(s) != key)
        if taken:
            raise KeysTaken(f"{len(taken)} subjects already had a key, e.g. {taken[0]}")
        self._known.update(made)
        return len(made)
