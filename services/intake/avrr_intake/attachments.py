"""Where case notes and attachments rest, how files are checked, and the commands that add them.

- ``intake_attachments``: one row per file, written by the command in the transaction that
  appends its ``AttachmentAdded`` (both or neither): its facts, its name under the person's
  key, and its bytes sealed under the person's key for files (``PersonalDataCipher.
  seal_bytes``, bound to the case and the file's id), in PostgreSQL's ``bytea`` (SQLite's
  BLOB in the embedded default), or with ``AVRR_ATTACHMENT_STORE=s3`` in an S3-compatible
  object store (``ObjectStore``; the row then names the object). It is the file store, not
  a read model: a rebuild of the projections never drops it.
- ``intake_case_notes``: the notes of every case, fed by ``NoteAdded`` (``CaseNotes``); the
  text stays ciphertext, decrypted for the reader.

Both lose the rows of a case's people when ``PersonalDataErased`` arrives: their keys are
already shredded, and the ciphertext goes too.

A file is accepted by what its bytes are (``content_type_of``), never by its name or the
type the client declared: PDF, PNG and JPEG, up to ``AVRR_ATTACHMENT_MAX_BYTES`` (10 MB by
default; 413 naming ``file`` beyond). A name whose extension says another type than its
bytes (a ``.pdf`` that is a ZIP) is refused, naming ``file``.

``obstore`` and ``puremagic`` are imported where first used, not with this module: most
deployments keep the bytes in PostgreSQL, and a process may never receive a file; together
they were ~7 MB of every intake process's memory (issue 21: < 150 MB per process).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Final

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartParser

from avrr_events import Envelope, PersonalDataCipher, Projection, Repository
from avrr_events.commands import CommandContext, CommandResult
from avrr_events.personal import Erased
from avrr_events.problems import NotFound, Problem
from avrr_events.tables import Json
from avrr_events.web.http import invalid_field
from avrr_events.web.service import ServiceRuntime
from avrr_intake.case import Case, CaseRepository, PersonalDataErased
from avrr_intake.commands import SOURCE
from avrr_intake.events import registry
from avrr_intake.notes import (
    AttachmentAdded,
    AttachmentKind,
    NoteAdded,
    must_be_about_a_member,
    record_on,
)
from avrr_intake.notices import N_, worded
from avrr_intake.settings import MAX_ATTACHMENT_BYTES, IntakeSettings

# What a file may be, found in its bytes, and the extensions its name may then have.
ALLOWED_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}
# Room for the multipart envelope around the file (boundaries, the person and kind fields).
FORM_OVERHEAD_BYTES: Final = 64 * 1024

# Starlette spools an uploaded file over 1 MB to a temporary file on disk, where a plaintext
# copy of an identity document must never rest: uploads stay in memory. The one route that
# takes files bounds its bodies (``upload_body_limit``), so memory is bounded too.
MultiPartParser.spool_max_size = MAX_ATTACHMENT_BYTES + FORM_OVERHEAD_BYTES

files_metadata = MetaData()

attachments = Table(
    "intake_attachments",
    files_metadata,
    Column("attachment_id", String(100), primary_key=True),
    Column("case_id", String(100), nullable=False),
    Column("person_id", String(100), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("file_name", Json, nullable=False),  # Encrypted, under the person's key
    Column("added_by", String(200), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    # nonce + AES-GCM ciphertext + tag; or, with the object store, its key there
    Column("sealed", LargeBinary, nullable=True),
    Column("object_key", String(300), nullable=True),
)
Index("intake_attachments_case_idx", attachments.c.case_id)

metadata = MetaData()

notes = Table(
    "intake_case_notes",
    metadata,
    Column("note_id", String(100), primary_key=True),
    Column("case_id", String(100), nullable=False),
    Column("person_id", String(100), nullable=False),
    Column("text", Json, nullable=False),  # Encrypted, under the person's key
    Column("added_by", String(200), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)
Index("intake_case_notes_case_idx", notes.c.case_id, notes.c.added_at)


class ObjectStore:
    """An S3-compatible object store for the sealed bytes (``AVRR_ATTACHMENT_STORE=s3``),
    through ``obstore`` (a client without botocore, whose python-dateutil<3 the lock cannot
    take). The bytes are sealed exactly as in the database: the store never sees plaintext."""

    def __init__(self, settings: IntakeSettings) -> None:
        from obstore.store import S3Store

        def secret(value: SecretStr | None) -> str | None:
            return None if value is None else value.get_secret_value()

        endpoint = settings.attachment_s3_endpoint
        self.store = S3Store(
            settings.attachment_s3_bucket,
            endpoint=endpoint,
            region=settings.attachment_s3_region,
            access_key_id=secret(settings.attachment_s3_access_key_id),
            secret_access_key=secret(settings.attachment_s3_secret_access_key),
            virtual_hosted_style_request=False,
            client_options={"allow_http": bool(endpoint and endpoint.startswith("http://"))},
        )

    async def put(self, key: str, sealed: bytes) -> None:
        import obstore

        await obstore.put_async(self.store, key, sealed)

    async def get(self, key: str) -> bytes:
        import obstore

        return bytes(await (await obstore.get_async(self.store, key)).bytes_async())

    async def delete(self, keys: list[str]) -> None:
        if keys:
            import obstore

            await obstore.delete_async(self.store, keys)


def object_store(settings: IntakeSettings) -> ObjectStore | None:
    """Where the bytes go besides the database: None keeps them in PostgreSQL (the default)."""
    return ObjectStore(settings) if settings.attachment_store == "s3" else None


class FileTooLarge(Problem, status=413, code="content-too-large"):
    """A file over the attachment limit (the problem names ``file`` and the limit)."""


class NoteIn(BaseModel):
    """A note about one person of the case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person_id: str = Field(min_length=1, max_length=100)
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)
    ] = Field(json_schema_extra={"pattern": r"\S"})


def upload_body_limit() -> int:
    """The largest request body of an upload: the file limit and its form around it."""
    return IntakeSettings().attachment_max_bytes + FORM_OVERHEAD_BYTES


def content_type_of(data: bytes, name: str) -> str:
    """The type of ``data`` as its bytes say (PDF, PNG or JPEG), else 422 naming ``file``;
    also refused when the extension of ``name`` says another type. The bytes are read by
    ``puremagic`` (pure Python, no libmagic to install): its most confident guesses must
    include an accepted type."""
    import puremagic

    if not data:
        raise invalid_field("file", worded(N_("the file is empty")))
    try:
        guesses = puremagic.magic_string(data)
    except puremagic.PureError:
        guesses = []
    best = max((g.confidence for g in guesses), default=0.0)
    found: list[str] = [str(g.mime_type) for g in guesses if g.confidence == best and g.mime_type]
    content_type = next((t for t in found if t in ALLOWED_TYPES), None)
    if content_type is None:
        seen = found[0] if found else "unrecognised content"
        raise invalid_field(
            "file",
            worded(
                N_("its bytes are not a PDF, PNG or JPEG file (they look like %(seen)s)"),
                seen=seen,
            ),
        )
    extension = PurePosixPath(name).suffix.lower()
    if extension and extension not in ALLOWED_TYPES[content_type]:
        raise invalid_field(
            "file",
            worded(
                N_("named %(extension)s but its content is %(content_type)s"),
                extension=extension,
                content_type=content_type,
            ),
        )
    return content_type


class AttachmentForm(BaseModel):
    """The fields of an upload beside its file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person_id: str = Field(min_length=1, max_length=100, description="whom the file is about")
    kind: AttachmentKind


FILE_NAME_MAX = 255
# The upload as the OpenAPI states it: the route reads its form itself (``read_upload``).
UPLOAD_OPENAPI: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["person_id", "kind", "file"],
                    "properties": {
                        **AttachmentForm.model_json_schema()["properties"],
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, PNG or JPEG, as its bytes say (not its name); "
                            "at most AVRR_ATTACHMENT_MAX_BYTES (10 MB by default: 413 beyond); "
                            f"a name of at most {FILE_NAME_MAX} characters",
                        },
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


@dataclass(frozen=True)
class File:
    """A file as uploaded: what it is about, its name and its bytes."""

    person_id: str
    kind: AttachmentKind
    name: str
    data: bytes


async def read_upload(request: Request) -> File:
    """The file and fields of an upload (multipart/form-data), 422 naming a missing or
    invalid one. A retry with the same Idempotency-Key is compared by its fields and its
    file's SHA-256, whatever boundary the client drew."""
    try:
        form = await request.form(max_files=1, max_fields=len(AttachmentForm.model_fields))
    except HTTPException as exc:  # more parts than an upload has, or a malformed body
        raise invalid_field("file", str(exc.detail)) from None
    fields = {name: value for name, value in form.multi_items() if name != "file"}
    try:
        values = AttachmentForm.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise invalid_field(
            "file", worded(N_("a file is required (a part named file, with a file name)"))
        )
    name = upload.filename or ""
    if len(name) > FILE_NAME_MAX:
        raise invalid_field(
            "file",
            worded(N_("the file name is longer than %(most)s characters"), most=FILE_NAME_MAX),
        )
    data = await upload.read()
    await form.close()
    # What a retry with the same Idempotency-Key must repeat: the fields and the file itself,
    # not the multipart boundary, which every client draws again for each request.
    fingerprint = [values.person_id, values.kind, name, hashlib.sha256(data).hexdigest()]
    request.state.idempotent_body = json.dumps(fingerprint).encode()
    return File(values.person_id, values.kind, name, data)


class NoteCommands:
    """The commands of notes and attachments, each load -> decide -> append on the Case."""

    def __init__(
        self, runtime: ServiceRuntime, max_bytes: int, objects: ObjectStore | None = None
    ) -> None:
        self.runtime = runtime
        self.cipher = runtime.cipher
        self.max_bytes = max_bytes
        self.objects = objects
        self.repo: Repository[Case] = CaseRepository(runtime.store, registry, Case, source=SOURCE)

    async def add_note(self, case_id: str, note: NoteIn, ctx: CommandContext) -> CommandResult:
        note_id = str(uuid.uuid4())

        async def decide(case: Case) -> None:
            must_be_about_a_member(case, note.person_id)  # before a key is made for them
            record_on(
                case,
                NoteAdded(
                    case_id=case_id,
                    note_id=note_id,
                    person_id=note.person_id,
                    text=await self.cipher.encrypt(note.person_id, note.text),
                    added_by=ctx.principal.user_id,
                    added_at=datetime.now(UTC),
                ),
            )

        executed = await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist)
        case = executed.aggregate
        return CommandResult.of(
            case.version, status=201, case_id=case_id, note_id=note_id, events=executed.events
        )

    async def attach(self, case_id: str, file: File, ctx: CommandContext) -> CommandResult:
        """Attach ``file``: its size and type are checked before the case is even loaded;
        its bytes are stored in the transaction that appends ``AttachmentAdded``."""
        if len(file.data) > self.max_bytes:
            raise FileTooLarge(
                wording=worded(
                    N_("file: %(size)s bytes, over the limit of %(max_bytes)s bytes"),
                    size=len(file.data),
                    max_bytes=self.max_bytes,
                ),
                field="file",
                max_bytes=self.max_bytes,
            )
        content_type = content_type_of(file.data, file.name)
        attachment_id = str(uuid.uuid4())

        async with self.runtime.db.transaction() as conn:

            async def decide(case: Case) -> None:
                must_be_about_a_member(case, file.person_id)
                event = AttachmentAdded(
                    case_id=case_id,
                    attachment_id=attachment_id,
                    person_id=file.person_id,
                    kind=file.kind,
                    content_type=content_type,
                    size_bytes=len(file.data),
                    file_name=await self.cipher.encrypt(file.person_id, file.name),
                    added_by=ctx.principal.user_id,
                    added_at=datetime.now(UTC),
                )
                record_on(case, event)
                sealed = await self.cipher.seal_bytes(
                    file.person_id, file.data, binding=_binding(case_id, attachment_id)
                )
                stored: dict[str, Any] = {"sealed": sealed}
                if self.objects is not None:  # the object first: a row never names nothing
                    stored = {"object_key": _binding(case_id, attachment_id)}
                    await self.objects.put(stored["object_key"], sealed)
                await conn.execute(
                    attachments.insert().values(
                        **event.model_dump(include=_STORED, mode="json"),
                        added_at=event.added_at,
                        **stored,
                    )
                )

            try:
                executed = await self.repo.execute(
                    case_id, ctx, decide, guard=Case.must_exist, conn=conn
                )
            except BaseException:
                if self.objects is not None:  # the event was not written: no file either
                    await self.objects.delete([_binding(case_id, attachment_id)])
                raise
        case = executed.aggregate
        return CommandResult.of(
            case.version,
            status=201,
            case_id=case_id,
            attachment_id=attachment_id,
            content_type=content_type,
            size_bytes=len(file.data),
            events=executed.events,
        )


# The event's fields the file store keeps beside the bytes (added_at as a timestamp).
_STORED = {
    "attachment_id",
    "case_id",
    "person_id",
    "kind",
    "content_type",
    "size_bytes",
    "file_name",
    "added_by",
}


def _binding(case_id: str, attachment_id: str) -> str:
    """What a file's bytes are sealed as: this file of this case (a copy elsewhere fails)."""
    return f"case/{case_id}/attachment/{attachment_id}"


# ------------------------------------------------------------------ reading --


async def note_rows(conn: AsyncConnection, case_id: str) -> list[Any]:
    """The notes of a case, oldest first (text still ciphertext)."""
    query = select(notes).where(notes.c.case_id == case_id)
    return list((await conn.execute(query.order_by(notes.c.added_at, notes.c.note_id))).all())


_LISTED = [c for c in attachments.c if c.name not in ("sealed", "object_key")]


async def attachment_rows(conn: AsyncConnection, case_id: str) -> list[Any]:
    """The attachments of a case without their bytes, oldest first."""
    query = select(*_LISTED).where(attachments.c.case_id == case_id)
    order = (attachments.c.added_at, attachments.c.attachment_id)
    return list((await conn.execute(query.order_by(*order))).all())


def no_attachment(case_id: str, attachment_id: str) -> NotFound:
    """404 for an attachment the case does not have (or whose bytes were erased)."""
    return NotFound(
        wording=worded(
            N_("case %(case)s has no attachment %(attachment)s"),
            case=case_id,
            attachment=attachment_id,
        )
    )


async def attachment_row(conn: AsyncConnection, case_id: str, attachment_id: str) -> Any:
    """One attachment of the case with its sealed bytes; 404 when the case has no such file."""
    query = select(attachments).where(
        and_(attachments.c.case_id == case_id, attachments.c.attachment_id == attachment_id)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise no_attachment(case_id, attachment_id)
    return row


async def open_file(
    cipher: PersonalDataCipher, row: Any, objects: ObjectStore | None
) -> bytes | Erased:
    """The plaintext bytes of an attachment's row (ERASED once its person's key is gone)."""
    binding = _binding(row.case_id, row.attachment_id)
    if row.object_key is not None:
        if objects is None:
            raise RuntimeError("a file is in the object store, and none is configured")
        sealed = await objects.get(row.object_key)
    else:
        sealed = bytes(row.sealed)
    return await cipher.open_bytes(row.person_id, sealed, binding=binding)


# ----------------------------------------------------------------- projection --


class CaseNotes(Projection):
    """Notes into ``intake_case_notes``; at erasure, the case's people's notes go, and their
    files from the file store (``intake_attachments``, which a rebuild leaves alone)."""

    name = "intake_case_notes"
    metadata = metadata

    def __init__(self, objects: ObjectStore | None = None) -> None:
        self.objects = objects

    async def _note(self, conn: AsyncConnection, event: NoteAdded, _envelope: Envelope) -> None:
        await conn.execute(
            notes.insert().values(
                note_id=event.note_id,
                case_id=event.case_id,
                person_id=event.person_id,
                text=event.text.model_dump(mode="json"),
                added_by=event.added_by,
                added_at=event.added_at,
            )
        )

    async def _erased(
        self, conn: AsyncConnection, event: PersonalDataErased, _envelope: Envelope
    ) -> None:
        a, n = attachments.c, notes.c
        their_files = and_(a.case_id == event.case_id, a.person_id.in_(event.person_ids))
        in_store = await conn.scalars(
            select(a.object_key).where(their_files, a.object_key.is_not(None))
        )
        if self.objects is not None:  # already unreadable (keys shredded); now gone too
            await self.objects.delete(list(in_store))
        await conn.execute(delete(attachments).where(their_files))
        their_notes = and_(n.case_id == event.case_id, n.person_id.in_(event.person_ids))
        await conn.execute(delete(notes).where(their_notes))

    handlers = {NoteAdded: _note, PersonalDataErased: _erased}
