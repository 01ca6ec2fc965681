"""A programme's existing caseload into intake: spreadsheet rows -> the referral, consent and
return-request commands (``avrr import cases FILE``; the columns are in docs/import.md).

Rows that share a ``case_reference`` are one household (one row per person),
the principal's row carrying the case's columns; a row without a reference is
a one-person case. Each case is validated as a whole by the REST API's own
models (``ReferralIn``, ``ConsentIn``, ``ReturnRequestIn``) before anything is
written, so a rejected row leaves no trace, and its reason names the column
(``date_of_birth: ...``); the rows of the same household are rejected with it.

The case id is derived from the row's identity (the office and the
programme's reference, else the row's own content), never drawn at random: a
rerun of the same file finds its cases and creates nothing new ("already
imported"), and a run interrupted between a case's commands completes that
case (the steps already in its history are not repeated).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, Field, ValidationError

from avrr_events import ConcurrencyError
from avrr_events.batch import HeldAppends
from avrr_events.caseload import (
    HeldKeys,
    ImportRun,
    KeysTaken,
    RowOutcome,
    RunKeys,
    SheetRow,
    Status,
    UnreadableFile,
    read_table,
)
from avrr_events.commands import CommandContext, Principal, etag
from avrr_events.notices.languages import DEFAULT
from avrr_events.notices.wording import Wording
from avrr_events.personal import PersonalDataCipher
from avrr_events.problems import Conflict, PreconditionFailed, Problem
from avrr_events.validation import InvalidValue, reason_wording
from avrr_events.web.authorization import may_see
from avrr_events.web.http import invalid_field, readers_language
from avrr_events.web.service import ServiceRuntime
from avrr_intake.case import Case
from avrr_intake.commands import (
    ConsentIn,
    DuplicateLookup,
    IntakeCommands,
    ReferralIn,
    ReturnRequestIn,
    person_key,
)
from avrr_intake.consent import Purpose
from avrr_intake.notices import N_, worded
from avrr_intake.referral import ADULT_AGE, age_on
from avrr_intake.settings import IntakeSettings

# The case's columns (read from the principal's row; another row of the household may
# repeat them, but not differ) and each person's, in the order of the sample file.
CASE_COLUMNS = (
    "case_reference",
    "office",
    "source",
    "referrer_name",
    "referrer_organisation",
    "referrer_contact",
    "host_country",
    "current_city",
    "nationality",
    "languages",
    "contact_sharing_consented",
    "phone",
    "email",
    "address",
    "destination_country",
    "destination_region",
    "programme",
)
PERSON_COLUMNS = (
    "relationship",
    "given_names",
    "family_name",
    "date_of_birth",
    "sex",
    "document_type",
    "document_number",
    "consent_purposes",
    "consent_given_on",
    "consent_given_by",
    "consent_language",
    "representative_name",
    "representative_relationship",
)
COLUMNS = (*CASE_COLUMNS, *PERSON_COLUMNS)

# Where a field of the API's models comes from in the file (the field path -> the column).
_FIELD_COLUMNS = {
    ("referrer", "name"): "referrer_name",
    ("referrer", "organisation"): "referrer_organisation",
    ("referrer", "contact"): "referrer_contact",
    ("contact", "phone"): "phone",
    ("contact", "email"): "email",
    ("contact", "address"): "address",
    ("current_location", "country"): "host_country",
    ("current_location", "city"): "current_city",
    ("household",): "relationship",
    ("purposes",): "consent_purposes",
    ("given_on",): "consent_given_on",
    ("given_by",): "consent_given_by",
    ("language",): "consent_language",
    ("representative", "name"): "representative_name",
    ("representative", "relationship"): "representative_relationship",
    ("programme_hint",): "programme",
}
# Whole-model rules, by the words of their message (ReferralIn's validators).
_RULE_COLUMNS = (("principal", "relationship"), ("referrer", "referrer_name"))
_LIST = re.compile(r"[;,|\s]+")
# Every case id the import makes lives in this namespace (uuid5): same row, same case.
_NAMESPACE = uuid.UUID("5f0c3a52-8d1e-4c55-9a43-2f7d6f1e0b11")
RETURN_PURPOSE = "return_assistance_processing"
M = TypeVar("M", bound=BaseModel)
_ATTEMPTS = 5  # reads of a case that another run of the file is importing at the same time


class RowRejected(Exception):
    """A row of the household is refused: ``row`` (its number), the reason naming the column
    (a catalog message: the rejects file has its English, the HTTP answer the reader's)."""

    def __init__(self, row: int, reason: Wording) -> None:
        super().__init__(reason.english)
        self.row = row
        self.reason = reason


def _rejected(row: int, reason: Wording) -> RowOutcome:
    return RowOutcome(row, "rejected", reason=reason.english, wording=reason)


def _refused_by_the_case(exc: Problem) -> Wording:
    """A row's reason when its case refused a command: the refusal, worded alike."""
    said = exc.wording if exc.wording is not None and str(exc) == exc.wording.english else None
    return worded(N_("case: %(refusal)s"), refusal=said or str(exc))


@dataclass(frozen=True)
class Household:
    """The rows of one case, the principal's first, and the commands they become."""

    case_id: str
    rows: tuple[SheetRow, ...]
    referral: ReferralIn
    consents: tuple[ConsentIn | None, ...]  # per row; person_id filled in once known
    return_request: ReturnRequestIn | None


def case_id_of(rows: Sequence[SheetRow]) -> str:
    """The case id of a household: from its office and reference, else the row's content.

    Only the documented columns count: the ``row`` and ``reason`` of a rejects
    file, or a column the programme added, never make a corrected row a new case.
    """
    first = rows[0]
    reference = first.get("case_reference")
    if reference:
        identity = f"{first.get('office').casefold()}\x1f{reference.casefold()}"
    else:
        identity = "\x1f".join(f"{c}={first.get(c)}" for c in COLUMNS)
        identity = hashlib.sha256(identity.encode()).hexdigest()
    return str(uuid.uuid5(_NAMESPACE, identity))


def households(rows: Sequence[SheetRow]) -> Iterator[list[SheetRow]]:
    """The rows grouped by (office, case_reference) in the file's order; unreferenced rows alone."""
    grouped: dict[tuple[str, str], list[SheetRow]] = {}
    for row in rows:
        reference = row.get("case_reference")
        if not reference:
            yield [row]
            continue
        grouped.setdefault((row.get("office").casefold(), reference.casefold()), []).append(row)
    yield from grouped.values()


def _column(loc: tuple[int | str, ...]) -> tuple[int | None, str]:
    """(index of the household member or None, column) of a validation error's location."""
    if len(loc) >= 3 and loc[0] == "household" and isinstance(loc[1], int):
        return loc[1], str(loc[2])
    path = tuple(str(part) for part in loc)
    for n in (2, 1):
        if path[:n] in _FIELD_COLUMNS:
            return None, _FIELD_COLUMNS[path[:n]]
    return None, str(loc[0]) if loc else ""


def _reason(error: Any) -> tuple[int | None, Wording]:
    member, column = _column(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if not column:
        column = next((c for word, c in _RULE_COLUMNS if word in message), "row")
    if error["type"] == "missing":
        return member, worded(N_("%(column)s: required"), column=column)
    # The validator's own message (without pydantic's "Value error, "), or pydantic's: in
    # the reader's language when it is a catalog message that reads as the English does.
    cause = (error.get("ctx") or {}).get("error")
    said = cause.wording if isinstance(cause, InvalidValue) else reason_wording(error)
    fact: Wording | str = said if said is not None and said.english == message else message
    return member, worded(N_("%(column)s: %(reason)s"), column=column, reason=fact)


def _validated(model: type[M], data: dict[str, Any], rows: Sequence[SheetRow], row: SheetRow) -> M:
    """``model`` from ``data``, or RowRejected naming the row and column of its first error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        member, reason = _reason(exc.errors()[0])
        at = rows[member] if member is not None else row
        raise RowRejected(at.number, reason) from None


def _some(**fields: Any) -> dict[str, Any]:
    """The fields with a value: an empty cell is an absent field (the model's default)."""
    return {k: v for k, v in fields.items() if v not in ("", None, [], {})}


def _listed(text: str) -> list[str]:
    return [part for part in _LIST.split(text) if part]


def _principal_first(rows: list[SheetRow]) -> list[SheetRow]:
    if len(rows) == 1 and not rows[0].get("relationship"):
        return rows  # a one-person case: its person is the principal
    principals = [r for r in rows if r.get("relationship").casefold() == "principal"]
    if len(principals) != 1:
        raise RowRejected(
            rows[0].number,
            worded(
                N_(
                    "relationship: the household needs exactly one row with 'principal' "
                    "(found %(found)s)"
                ),
                found=len(principals),
            ),
        )
    return [principals[0], *(r for r in rows if r is not principals[0])]


def _same_case_columns(rows: Sequence[SheetRow]) -> None:
    principal = rows[0]
    for row in rows[1:]:
        for column in CASE_COLUMNS:
            value = row.get(column)
            if value and value != principal.get(column):
                raise RowRejected(
                    row.number,
                    worded(
                        N_("%(column)s: differs from the principal's row %(row)s"),
                        column=column,
                        row=principal.number,
                    ),
                )


def household(rows: list[SheetRow], today: datetime) -> Household:
    """The commands of one household's rows, validated; RowRejected for the first bad cell."""
    rows = _principal_first(rows)
    _same_case_columns(rows)
    p = rows[0]
    relationship = p.get("relationship") or "principal"
    referral = _validated(
        ReferralIn,
        _some(
            source=p.get("source"),
            referrer=_some(
                name=p.get("referrer_name"),
                organisation=p.get("referrer_organisation"),
                contact=p.get("referrer_contact"),
            ),
            contact_sharing_consented=p.get("contact_sharing_consented") or "no",
            contact=_some(phone=p.get("phone"), email=p.get("email"), address=p.get("address")),
            current_location=_some(country=p.get("host_country"), city=p.get("current_city")),
            nationality=p.get("nationality"),
            languages=_listed(p.get("languages")),
            household=[
                _some(
                    given_names=r.get("given_names"),
                    family_name=r.get("family_name"),
                    date_of_birth=r.get("date_of_birth"),
                    sex=r.get("sex"),
                    relationship=relationship if r is p else r.get("relationship"),
                    document_type=r.get("document_type"),
                    document_number=r.get("document_number"),
                )
                for r in rows
            ],
            office=p.get("office"),
        ),
        rows,
        p,
    )
    consents = tuple(
        _consent(row, person, referral, today, principal=row is p)
        for row, person in zip(rows, referral.household, strict=True)
    )
    return_request = None
    if p.get("destination_country"):
        return_request = _validated(
            ReturnRequestIn,
            _some(
                destination_country=p.get("destination_country"),
                destination_region=p.get("destination_region"),
                programme_hint=p.get("programme"),
            ),
            rows,
            p,
        )
        # The case refuses a return request without everybody's consent to it: say so now,
        # on the row that lacks it, rather than half-import the case.
        for row, consent in zip(rows, consents, strict=True):
            if consent is None or RETURN_PURPOSE not in consent.purposes:
                raise RowRejected(
                    row.number,
                    worded(
                        N_(
                            "consent_purposes: a return to %(country)s needs %(purpose)s for "
                            "every member of the household"
                        ),
                        country=p.get("destination_country"),
                        purpose=RETURN_PURPOSE,
                    ),
                )
    return Household(case_id_of(rows), tuple(rows), referral, consents, return_request)


def _consent(
    row: SheetRow, person: Any, referral: ReferralIn, today: datetime, *, principal: bool
) -> ConsentIn | None:
    """The person's consent, if the row gives purposes; a representative who is not in the
    household is named (representative_name), else it is the principal (``_run``)."""
    purposes = _listed(row.get("consent_purposes"))
    if not purposes:
        return None
    given_by = row.get("consent_given_by") or "self"
    if given_by == "self" and age_on(person.date_of_birth, today.date()) < ADULT_AGE:
        raise RowRejected(
            row.number,
            worded(
                N_(
                    "consent_given_by: the person is a child: their guardian or legal "
                    "representative gives consent (guardian, with representative_name unless "
                    "the principal is the guardian)"
                )
            ),
        )
    representative = _some(
        name=row.get("representative_name"), relationship=row.get("representative_relationship")
    )
    if given_by != "self" and not representative and principal:
        raise RowRejected(
            row.number,
            worded(N_("representative_name: required when the principal does not consent self")),
        )
    return _validated(
        ConsentIn,
        _some(
            person_id="-",  # the person's id is the referral's: filled in when it is known
            purposes=purposes,
            given_on=row.get("consent_given_on"),
            given_by=given_by,
            representative=representative,
            language=row.get("consent_language") or next(iter(referral.languages), ""),
        ),
        [row],
        row,
    )


@dataclass
class CaseloadImport:
    """Intake's importer (entry point ``avrr.importers: cases``), run in intake's runtime.

    Households are decided ``batch`` at a time through intake's commands, their
    events held (``HeldAppends``) and their people's keys made in memory
    (``HeldKeys``), then written together: the keys in one statement, the
    events of the whole batch in one transaction. A command per transaction
    bounded the import by the database's commits, and a statement or more per
    command by its round trips (34 statements a case). A household the case
    refuses half-way (a rule of its state) is dropped alone from what is held.
    A batch that cannot be written (a case another run imported meanwhile, a
    key already stored) is imported again one household at a time
    (``import_household``, each in a savepoint), so a row refused at writing
    never takes the batch's other rows with it. An interrupted run loses at
    most its last batches, which the rerun imports.
    """

    service: str = "intake"
    columns: Sequence[str] = COLUMNS
    batch: int = 100
    # Batches in flight at once: PostgreSQL takes them side by side; SQLite has one writer.
    concurrency: int | None = None

    async def __call__(self, run: ImportRun) -> list[RowOutcome]:
        """Import every household of the run's rows; one outcome per row, in the file's order."""
        runtime, actor = run.runtime, run.actor
        assert isinstance(runtime, ServiceRuntime)
        # The run's own commands: they encrypt through its key cache (RunKeys: only
        # encryption is cached), the runtime's (the routes') keep theirs.
        secret = IntakeSettings().secret(runtime.settings)
        keys = RunKeys(runtime.cipher.keys)
        commands = IntakeCommands(runtime, secret)
        commands.cipher = PersonalDataCipher(keys)
        today = datetime.now(UTC)
        on_sqlite = runtime.db.engine.dialect.name == "sqlite"
        limit = asyncio.Semaphore(self.concurrency or (1 if on_sqlite else 3))
        outcomes: dict[int, RowOutcome] = {}
        groups = list(households(run.rows))

        async def one(batch: list[list[SheetRow]]) -> None:
            async with limit:
                done, again = await _held_batch(
                    runtime, secret, keys, [checked(g, actor, today) for g in batch], actor
                )
                if again:
                    done += await _one_by_one(commands, again, actor, today)
            outcomes.update((o.row, o) for o in done)
            run.advance(sum(len(g) for g in batch))

        await asyncio.gather(
            *(one(groups[i : i + self.batch]) for i in range(0, len(groups), self.batch))
        )
        return [outcomes[row.number] for row in run.rows]


async def _held_batch(
    runtime: ServiceRuntime,
    secret: bytes,
    keys: RunKeys,
    found: list[Household | list[RowOutcome]],
    actor: Principal,
) -> tuple[list[RowOutcome], list[list[SheetRow]]]:
    """Decide the batch's households through the commands on held appends and keys, then
    write them; their outcomes, and the households to import one by one instead."""
    outcomes = [o for f in found if not isinstance(f, Household) for o in f]
    valid = [f for f in found if isinstance(f, Household)]
    held = HeldAppends(runtime.store)
    commands = IntakeCommands(runtime, secret)
    commands.repo = replace(commands.repo, store=held)
    await held.read(Case(h.case_id).stream_id for h in valid)
    # The people of cases already there (a rerun) keep their keys: only new people get one.
    cases = [await commands.repo.load(h.case_id) for h in valid]
    people = [p for case in cases for p in case.people]
    made = HeldKeys(keys, await keys.get_many(people) if people else {})
    commands.cipher = PersonalDataCipher(made)
    new = [h for h, case in zip(valid, cases, strict=True) if not case.exists]
    commands.duplicates = await _duplicates_of(commands, new)
    decided: list[RowOutcome] = []
    again: list[list[SheetRow]] = []
    for h in valid:
        try:
            with held.undone_on_error():
                created = await _steps(commands, h, actor)
        except Problem as exc:  # a rule of the case's state (a closed case, say)
            outcomes += [_rejected(r.number, _refused_by_the_case(exc)) for r in h.rows]
        except (ConcurrencyError, PreconditionFailed):
            again.append(list(h.rows))
        else:
            status: Status = "created" if created else "already imported"
            decided += [RowOutcome(r.number, status, case_id=h.case_id) for r in h.rows]
    try:
        await made.store()  # before the events that name the keys
        await held.write()
    except (ConcurrencyError, KeysTaken):
        # Nothing of the batch's events was written: each household again, on its own.
        # (Keys stored for people that no event names are left: they open nothing.)
        written = {o.row for o in decided}
        again += [list(h.rows) for h in valid if h.rows[0].number in written]
        decided = []
    return outcomes + decided, again


async def _duplicates_of(commands: IntakeCommands, found: list[Household]) -> DuplicateLookup:
    """The possible duplicates of every person of the batch, looked up in one query, as the
    referrals' lookup (each then its people's, in the query's order)."""
    keys = {
        person_key(commands.secret, p, h.referral.nationality)
        for h in found
        for p in h.referral.household
    }
    matches = await commands.duplicate_matches(sorted(keys)) if keys else []

    async def duplicates(wanted: list[str]) -> list[tuple[str, str, str]]:
        return [m for m in matches if m[0] in wanted]

    return duplicates


async def _one_by_one(
    commands: IntakeCommands, groups: list[list[SheetRow]], actor: Principal, today: datetime
) -> list[RowOutcome]:
    """Households imported one at a time, each in a savepoint of one transaction."""
    outcomes: list[RowOutcome] = []
    async with commands.runtime.db.unit_of_work() as unit:
        for group in groups:
            try:
                async with unit.begin_nested():
                    outcomes += await import_household(commands, group, actor, today)
            except HouseholdUndone as undone:
                outcomes += undone.outcomes
    return outcomes


class HouseholdUndone(Exception):
    """A household refused after some of its commands ran: its savepoint is rolled back."""

    def __init__(self, outcomes: list[RowOutcome]) -> None:
        super().__init__(outcomes[0].reason)
        self.outcomes = outcomes


def checked(
    rows: list[SheetRow], actor: Principal, today: datetime
) -> Household | list[RowOutcome]:
    """The household's commands, validated and of one of the actor's offices; else the rows'
    outcomes: rejected, the reason on the row at fault, the others naming that row."""
    try:
        found = household(rows, today)
        if not may_see(actor, (found.referral.office,)):
            raise RowRejected(
                found.rows[0].number,
                worded(
                    N_("office: %(office)s is not one of the importer's offices"),
                    office=found.referral.office,
                ),
            )
    except RowRejected as refused:
        with_it = worded(
            N_("case_reference: row %(row)s of the same household was rejected"), row=refused.row
        )
        return [
            _rejected(r.number, refused.reason if r.number == refused.row else with_it)
            for r in rows
        ]
    return found


async def import_household(
    commands: IntakeCommands, rows: list[SheetRow], actor: Principal, today: datetime
) -> list[RowOutcome]:
    """One household: validated, then referral, consents, return request (those not yet done).

    Raises HouseholdUndone when the case refused a command: what ran before it is undone.
    """
    found = checked(rows, actor, today)
    if not isinstance(found, Household):
        return found
    try:
        created = await _run(commands, found, actor)
    except Problem as exc:  # a rule of the case's state (a closed case, say)
        raise HouseholdUndone(
            [_rejected(r.number, _refused_by_the_case(exc)) for r in rows]
        ) from exc
    status: Status = "created" if created else "already imported"
    return [RowOutcome(r.number, status, case_id=found.case_id) for r in found.rows]


async def _run(commands: IntakeCommands, found: Household, actor: Principal) -> bool:
    """The household's commands its case's history lacks; whether any was run.

    Each command names the version it decided on (If-Match): a second run of
    the same file at the same moment moves the case on, the command is refused
    (412, or 409 for the referral), and the steps are read again from the
    case, so that neither run records a consent twice.
    """
    for _ in range(_ATTEMPTS):
        try:
            return await _steps(commands, found, actor)
        except (ConcurrencyError, PreconditionFailed):
            continue
    raise Conflict(
        wording=worded(
            N_("the case %(case)s kept changing while being imported"), case=found.case_id
        )
    )


async def _steps(commands: IntakeCommands, found: Household, actor: Principal) -> bool:
    case: Case = await commands.repo.load(found.case_id)
    if not case.exists:
        ctx = CommandContext(actor)
        opened = await commands.receive_referral(found.case_id, found.referral, ctx)
        # A case just opened: its people in the household's order, no consent yet.
        people = [p["person_id"] for p in opened.body["household"]]
        step = _Step(commands, found.case_id, actor, opened.version)
        await step.consents(found, people, set())
        await step.return_request(found.return_request)
        return True
    if case.status not in ("open", "suspended_by_consent") or case.erased:
        return False  # withdrawn, closed or erased since: the import never reopens a case
    # A case an interrupted run left half-imported: what its history lacks.
    step = _Step(commands, found.case_id, actor, case.version)
    ran = await step.consents(found, list(case.people), case.consents)
    if case.status == "open" and await step.return_request(found.return_request):
        ran = True
    return ran


@dataclass
class _Step:
    """The commands after the referral, each at the version the previous one left."""

    commands: IntakeCommands
    case_id: str
    actor: Principal
    version: int

    def _context(self) -> CommandContext:
        return CommandContext(self.actor, if_match=etag(self.version))

    async def consents(
        self, found: Household, people: list[str], given: set[tuple[str, Purpose]]
    ) -> bool:
        """Each person's consent to the purposes they have not consented to yet (the
        principal, ``people[0]``, represents a child whose row names no representative)."""
        ran = False
        for person_id, consent in zip(people, found.consents, strict=True):
            if consent is None:
                continue
            missing = [c for c in consent.purposes if (person_id, c) not in given]
            if missing:
                cmd = consent.model_copy(update={"person_id": person_id, "purposes": missing})
                if cmd.given_by != "self" and cmd.representative is None:
                    cmd = cmd.model_copy(update={"representative_person_id": people[0]})
                result = await self.commands.give_consent(self.case_id, cmd, self._context())
                self.version = result.version
                ran = True
        return ran

    async def return_request(self, request: ReturnRequestIn | None) -> bool:
        if request is None:
            return False
        result = await self.commands.request_return(self.case_id, request, self._context())
        self.version = result.version
        return True


IMPORTER = CaseloadImport()

# ------------------------------------------------------------------ upload --

# An upload is answered when its rows are done: larger caseloads go through the CLI.
UPLOAD_MAX_ROWS = 1000
UPLOAD_MAX_BYTES = 5 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_TYPES = {"text/csv": "upload.csv", XLSX: "upload.xlsx"}
UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"the caseload file itself (docs/import.md), at most {UPLOAD_MAX_ROWS} "
        f"rows and {UPLOAD_MAX_BYTES // (1024 * 1024)} MB: larger ones with `avrr import cases`",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in UPLOAD_TYPES},
    }
}


class ImportedRow(BaseModel):
    """What became of one row: ``row`` is its number in the spreadsheet (the header is 1)."""

    row: int
    status: Status
    case_id: str | None = Field(default=None, description="the case it made, or made before")
    reason: str | None = Field(default=None, description="why it was rejected, column first")


class CaseloadImported(BaseModel):
    rows: int
    created: int
    already_imported: int
    rejected: int
    outcomes: list[ImportedRow]


async def import_upload(
    runtime: ServiceRuntime, request: Request, response: Response, caller: Principal
) -> CaseloadImported:
    """``POST /caseload-imports``: the request's file imported as the caller (their offices
    only: a row of another office is rejected naming ``office``); each row's outcome, a
    rejected row's reason in the language the request asks for (Accept-Language)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().casefold()
    if kind not in UPLOAD_TYPES:
        raise invalid_field(
            "file",
            worded(
                N_("send the file as %(types)s, not %(kind)s"),
                types=" or ".join(UPLOAD_TYPES),
                kind=kind,
            ),
        )
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > UPLOAD_MAX_BYTES:
            raise invalid_field(
                "file", worded(N_("larger than %(most)s bytes"), most=UPLOAD_MAX_BYTES)
            )
    try:
        _header, rows = read_table(bytes(data), UPLOAD_TYPES[kind])
    except UnreadableFile as exc:
        raise invalid_field("file", exc.why) from None
    if len(rows) > UPLOAD_MAX_ROWS:
        raise invalid_field(
            "file",
            worded(
                N_("%(rows)s rows, more than %(most)s: use `avrr import cases`"),
                rows=len(rows),
                most=UPLOAD_MAX_ROWS,
            ),
        )
    outcomes = await IMPORTER(ImportRun(runtime, rows, caller))
    counts = Counter(o.status for o in outcomes)
    # Each rejected row's reason in the reader's language (the rejects file of the command
    # line keeps the English: the operator's copy, re-imported as it is).
    language, said = readers_language(request)
    response.headers.update(said)
    return CaseloadImported(
        rows=len(outcomes),
        created=counts["created"],
        already_imported=counts["already imported"],
        rejected=counts["rejected"],
        outcomes=[
            ImportedRow(
                row=o.row,
                status=o.status,
                case_id=o.case_id,
                reason=o.wording.in_language(language)
                if o.wording is not None and language != DEFAULT
                else o.reason,
            )
            for o in outcomes
        ],
    )
