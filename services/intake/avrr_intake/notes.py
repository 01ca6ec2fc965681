"""Case notes and attachments: what staff write about a person of a case, and the files they
attach (a signed consent sheet, a best-interests report, a copy of an identity document).

Both belong to one person of the case and rest under that person's key, so erasing the
person shreds them with everything else of theirs. The events carry the note's text and the
file's name as ciphertext, and the file's facts (kind, content type, size) in the clear for
the timeline; the file's bytes are never in an event (attachments.py keeps them).

Notes and files are added whatever the case's status, a closed or withdrawn case included
(the person may come back, or a document arrive late), never once its data is erased.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from avrr_events import DomainEvent, Encrypted
from avrr_intake.notices import N_
from avrr_intake.referral import CaseId
from avrr_intake.refusals import erased, not_a_member

if TYPE_CHECKING:  # case.py records these events: it imports this module
    from avrr_intake.case import Case

AttachmentKind = Literal[
    "signed_consent", "best_interests_report", "identity_document", "other_document"
]
# A copy of an identity document is read by fewer people than the case (api.py's POLICY).
IDENTITY_DOCUMENT: AttachmentKind = "identity_document"


class NoteAdded(DomainEvent):
    """A member of staff wrote a note about a person of the case."""

    event_type = "avrr.intake.NoteAdded"

    case_id: CaseId
    note_id: str = Field(max_length=100)
    person_id: str = Field(max_length=100)
    text: Encrypted = Field(description="the note, under the person's key")
    added_by: str = Field(max_length=200)
    added_at: datetime


class AttachmentAdded(DomainEvent):
    """A file about a person of the case was attached; its bytes rest, sealed under the
    person's key for files, in intake's attachment store, never in the event."""

    event_type = "avrr.intake.AttachmentAdded"

    case_id: CaseId
    attachment_id: str = Field(max_length=100)
    person_id: str = Field(max_length=100)
    kind: AttachmentKind
    content_type: str = Field(max_length=100, description="as found in the bytes, not the name")
    size_bytes: int = Field(ge=1)
    file_name: Encrypted = Field(
        description="the name it was uploaded with, under the person's key"
    )
    added_by: str = Field(max_length=200)
    added_at: datetime


def must_be_about_a_member(case: Case, person_id: str) -> None:
    """A note or a file is about a member of ``case`` (else 422 naming ``person_id``), and
    never added once the case's personal data was erased. Checked before anything is
    encrypted, so that no key is made for someone who is not in the case."""
    case.must_exist()
    if case.erased:
        raise erased(N_("add a note or a file"))
    if person_id not in case.people:
        raise not_a_member(person_id, case.id, field="person_id")


def record_on(case: Case, event: NoteAdded | AttachmentAdded) -> None:
    """Record a note or an attachment about a member of ``case``."""
    must_be_about_a_member(case, event.person_id)
    case.record(event)
