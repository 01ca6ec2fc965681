"""Manifests of group movements and of a day's departures, and a group's consulate list.

Travel keeps no names and no document numbers (its TravelDocumentObtained says only which
kind of document a traveller got); intake holds both, sealed under each person's key. So the
manifests are drawn here, from intake's timeline (``intake_timeline``: travel's
MovementJoinedGroup / MovementLeftGroup, TicketIssued, MovementRebooked, MovementCancelled and
TravellerRemoved, observed.py) and the case file's sealed personal data:

- a group's manifest: the households whose movement is in the group now (its last
  joined/left event), each traveller with name, date of birth and identity document;
- a day's manifest: the movements of one office ticketed to depart that day (a rebooking
  moves them, a cancellation takes them off);
- a group's consulate list: only the travellers whose ``share_with_authorities`` consent is
  given and not withdrawn; nobody else, not even as a count.

A person whose data was erased is listed without name or document (the seat is still
taken: the officer must know a traveller is there) and never on a consulate list. Who may
read them, and the audit of each rendering, is the route's (manifests_api.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Repository
from avrr_events.notices.document import Notice, Section
from avrr_events.personal import ERASED_MARKER, PersonalDataCipher
from avrr_intake import case_list, handover, read_models
from avrr_intake.case import Case
from avrr_intake.timeline import timeline

JOINED = "avrr.travel.MovementJoinedGroup"
LEFT = "avrr.travel.MovementLeftGroup"
TICKETED = "avrr.travel.TicketIssued"
REBOOKED = "avrr.travel.MovementRebooked"
CANCELLED = "avrr.travel.MovementCancelled"
REMOVED = "avrr.travel.TravellerRemoved"
SHARE_WITH_AUTHORITIES = "share_with_authorities"
ERASED_NAME = "(personal data erased)"


@dataclass(frozen=True)
class Traveller:
    """One line of a manifest: a traveller of a case, named from intake's sealed data."""

    case_id: str
    person_id: str
    relationship: str
    given_names: str
    family_name: str
    date_of_birth: str
    document_type: str
    document_number: str
    travel_document: str
    erased: bool


COLUMNS = tuple(f.name for f in fields(Traveller) if f.name != "erased")


async def _rows(conn: AsyncConnection, types: Iterable[str]) -> list[Any]:
    t = timeline.c
    stmt = (
        select(t.case_id, t.event_type, t.facts)
        .where(t.event_type.in_(list(types)))
        .order_by(t.seq)
    )
    return list((await conn.execute(stmt)).all())


async def group_cases(conn: AsyncConnection, group_id: str) -> list[str]:
    """The cases whose movement is in the group now (joined, and not left since)."""
    inside: dict[str, bool] = {}
    for row in await _rows(conn, (JOINED, LEFT)):
        if row.facts.get("group_id") == group_id:
            inside[row.case_id] = row.event_type == JOINED
    return sorted(c for c, now in inside.items() if now)


async def day_cases(conn: AsyncConnection, day: date) -> list[str]:
    """The cases ticketed to depart on ``day``: the last ticket or rebooking's date, unless a
    cancellation came after it."""
    departs: dict[str, str | None] = {}
    for row in await _rows(conn, (TICKETED, REBOOKED, CANCELLED)):
        match row.event_type:
            case "avrr.travel.TicketIssued":
                departs[row.case_id] = row.facts.get("departure_date")
            case "avrr.travel.MovementRebooked":
                departs[row.case_id] = row.facts.get("new_departure_date")
            case _:
                departs[row.case_id] = None
    return sorted(c for c, d in departs.items() if d == day.isoformat())


async def within(
    conn: AsyncConnection, case_ids: Iterable[str], offices: frozenset[str] | None
) -> list[str]:
    """Those of ``case_ids`` that belong to one of ``offices`` (None: every office)."""
    kept = []
    for case_id in case_ids:
        belongs = await handover.case_offices(conn, case_id)
        if belongs is not None and (offices is None or not offices.isdisjoint(belongs)):
            kept.append(case_id)
    return kept


async def _travel_facts(
    conn: AsyncConnection, case_ids: set[str]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    """The people taken off their movement, and each traveller's travel document kind."""
    removed: set[tuple[str, str]] = set()
    documents: dict[tuple[str, str], str] = {}
    for row in await _rows(conn, (REMOVED, "avrr.travel.TravelDocumentObtained")):
        if row.case_id not in case_ids:
            continue
        key = (row.case_id, str(row.facts.get("person_id")))
        if row.event_type == REMOVED:
            removed.add(key)
        else:
            documents[key] = str(row.facts.get("document_type", ""))
    return removed, documents


async def travellers(
    conn: AsyncConnection,
    cipher: PersonalDataCipher,
    case_ids: list[str],
    *,
    consented_to_share: bool = False,
    repo: Repository[Case] | None = None,
) -> list[Traveller]:
    """Each case's travellers, named; with ``consented_to_share`` only those whose consent to
    share with authorities stands and whose data exists (the consulate list), the consent as
    the case's stream (``repo``; without it, nobody's) has it now (``case_list.consents_now``):
    a withdrawal takes the person off the list from its answer on, not once the read model
    has seen it."""
    removed, documents = await _travel_facts(conn, set(case_ids))
    sharing: dict[str, set[str]] = {}
    if consented_to_share and repo is not None:
        # Given now (a consent given since included), not given in both as on the incoming
        # list; every case probed, a consent given since may list someone with no row yet.
        consents = await case_list.consents_now(
            conn, case_ids, SHARE_WITH_AUTHORITIES, repo, settled=lambda _case, _rows: False
        )
        sharing = {
            case_id: {person for person, status in c.now.items() if status == "given"}
            for case_id, c in consents.items()
        }
    out: list[Traveller] = []
    for case_id in case_ids:
        row = await read_models.case_row(conn, case_id)
        if row is None:
            continue
        for member in row.detail.get("household", []):
            person_id = str(member.get("person_id"))
            if (case_id, person_id) in removed:
                continue
            if consented_to_share and person_id not in sharing.get(case_id, set()):
                continue
            personal = await cipher.reveal(member.get("personal"))
            erased = personal == ERASED_MARKER or not isinstance(personal, dict)
            if erased and consented_to_share:
                continue
            document = {} if erased else (personal.get("document") or {})
            out.append(
                Traveller(
                    case_id=case_id,
                    person_id=person_id,
                    relationship=str(member.get("relationship", "")),
                    given_names="" if erased else str(personal.get("given_names", "")),
                    family_name=ERASED_NAME if erased else str(personal.get("family_name", "")),
                    date_of_birth="" if erased else str(personal.get("date_of_birth", "")),
                    document_type=str(document.get("type") or ""),
                    document_number=str(document.get("number") or ""),
                    travel_document=documents.get((case_id, person_id), ""),
                    erased=erased,
                )
            )
    return out


def _cell(value: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula: a typed name must not
    run as one on the officer's machine, so it is quoted."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def as_csv(lines: list[Traveller]) -> str:
    """The manifest as CSV, one traveller a row, with a header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for line in lines:
        writer.writerow([_cell(str(getattr(line, name))) for name in COLUMNS])
    return out.getvalue()


def _describe(line: Traveller) -> str:
    parts = [line.relationship]
    if line.date_of_birth:
        parts.append(f"born {line.date_of_birth}")
    if line.document_number:
        parts.append(f"{line.document_type or 'document'} {line.document_number}")
    if line.travel_document:
        parts.append(f"travel document: {line.travel_document.replace('_', ' ')}")
    return ", ".join(parts)


def as_notice(title: str, lines: list[Traveller], footer: str) -> Notice:
    """The manifest as a printable notice (PDF or HTML): one section per case."""
    by_case: dict[str, list[Traveller]] = {}
    for line in lines:
        by_case.setdefault(line.case_id, []).append(line)
    sections = tuple(
        Section(
            heading=f"Case {case_id}: {len(people)} traveller(s)",
            rows=tuple((f"{p.given_names} {p.family_name}".strip(), _describe(p)) for p in people),
        )
        for case_id, people in by_case.items()
    )
    empty = (Section(heading="Nobody is listed"),) if not sections else ()
    return Notice(language="en", title=title, sections=sections or empty, footer=footer)
