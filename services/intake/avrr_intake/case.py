"""The Case aggregate: one household's way through intake, and the rules between its events.

Lifecycle::

    ReferralReceived -> open --ReturnRequested--> return_requested
    return_requested --ReturnSuspended--> suspended_by_consent
        (a consent required for return withdrawn: every service stops the return)
    suspended_by_consent --ReturnResumed--> return_requested
        (every required consent given again: every service takes the return up again)
    open | return_requested | suspended_by_consent --CaseWithdrawn--> withdrawn
    open | suspended_by_consent --CaseClosed--> closed   (not applying, or not resuming)
    withdrawn | closed --CaseReopened--> open   (the person came back and consents again)
        or suspended_by_consent, when the case had applied to return: the return waits
        for every member's consent and resumes (ReturnResumed), where it stood everywhere
    any --PersonalDataErased--> (same status, personal data shredded)
    any but erased --PersonalDataRectified--> (same status, a person's data corrected)
        + HouseholdFactsCorrected while a return is requested and an age or sex changed
    return_requested --ReturnRequestAmended--> return_requested   (before clearance)
    return_requested --ReturnAmendmentRefused--> return_requested (eligibility had cleared it)
    active --HouseholdMemberRemoved--> (same status; ReturnResumed if it was the one missing)
    any --HouseholdMemberRestored--> (the removal came after the departure: they travelled)
    active --HouseholdMemberAdded--> (same status; before departure, with their consent
        once the return was requested; after clearance the household is cleared again)
    any --HouseholdAdditionReversed--> (the addition came after the departure: not a member)

After withdrawal or closure nothing changes any more except erasure, a reopening
(same stream: one history) or the answer to a pending transfer; after erasure
nothing at all but that answer's expiry.

Transfers (transfer.py): the office holding an active case asks another office
to take it (TransferRequested); that office accepts (TransferAccepted: the
case's office is then that one), rejects (TransferRejected), or lets it lapse
(TransferExpired). One request awaits its answer at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import Aggregate, DomainEvent, Encrypted
from avrr_events.aggregate import Executed, Repository
from avrr_events.commands import CommandContext, Principal
from avrr_events.problems import Conflict, DomainRuleViolation, Forbidden
from avrr_intake.amendment import ReturnAmendmentRefused, ReturnRequestAmended
from avrr_intake.consent import (
    REQUIRED_FOR_RETURN,
    ConsentGiven,
    ConsentWithdrawn,
    Purpose,
    WithdrawalReason,
)
from avrr_intake.counselling import CLOSING_OUTCOME, CounsellingRecorded
from avrr_intake.health import MEDICAL_DATA_PROCESSING, NeedsDeclared
from avrr_intake.household_change import (
    HOUSEHOLD_LIMIT,
    HouseholdAdditionReversed,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
)
from avrr_intake.notes import AttachmentAdded, NoteAdded
from avrr_intake.notices import N_, worded
from avrr_intake.rectification import (
    HOUSEHOLD_FACTS,
    HouseholdFactsCorrected,
    PersonalDataRectified,
)
from avrr_intake.referral import (
    ADULT_AGE,
    CaseId,
    CountryCode,
    DuplicateReferredElsewhere,
    OfficeId,
    PossibleDuplicateFlagged,
    ReferralReceived,
    ReferredPerson,
    Relationship,
    Sex,
)

# ReturnRequested's household, defined with the referral (rectification.py's too) and
# still imported from here, its first home.
from avrr_intake.referral import HouseholdMember as HouseholdMember
from avrr_intake.refusals import erased, no_case, not_a_member
from avrr_intake.transfer import (
    EXPIRY_ACTOR,
    TRANSFER_EVENTS,
    PendingTransfer,
    TransferAccepted,
    TransferExpired,
    TransferRejected,
    TransferRequested,
    no_pending,
)

Status = Literal["open", "return_requested", "suspended_by_consent", "withdrawn", "closed"]
ACTIVE: tuple[Status, ...] = ("open", "return_requested", "suspended_by_consent")
# Where nothing runs in another service, so that closing the case leaves nothing behind.
CLOSABLE: tuple[Status, ...] = ("open", "suspended_by_consent")
# Where other services hold the household's facts (ReturnRequested's): corrections follow.
RETURN_UNDER_WAY: tuple[Status, ...] = ("return_requested", "suspended_by_consent")


class ReturnRequested(DomainEvent):
    """The household applies for assisted return: the hand-over to eligibility."""

    event_type = "avrr.intake.ReturnRequested"

    case_id: CaseId
    office: OfficeId
    nationality: CountryCode
    host_country: CountryCode
    destination_country: CountryCode
    destination_region: str | None = Field(default=None, max_length=100)
    programme_hint: str | None = Field(default=None, max_length=100)
    household: list[HouseholdMember] = Field(min_length=1)
    requested_at: datetime
    # Optional addition (absent in older events): for the notices eligibility and travel
    # give the person (issue 19). Codes, not free text; already plaintext in the referral.
    languages: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=list,
        max_length=10,
        description="the languages the household reads (the referral's ISO 639 codes, in order): "
        "notices are given in the first one a catalog has",
    )


class CaseWithdrawn(DomainEvent):
    """The person changed their mind (or left): every service stops, nothing is shared any more."""

    event_type = "avrr.intake.CaseWithdrawn"

    case_id: CaseId
    reason: WithdrawalReason
    note: Encrypted | None = None
    withdrawn_at: datetime
    withdrawn_by: str


class ReturnSuspended(DomainEvent):
    """A consent the return needs was withdrawn after it was requested: the return stops.

    Not an end: the case waits, in ``suspended_by_consent``, to be closed or
    resumed (ReturnResumed) when everyone consents again.
    """

    event_type = "avrr.intake.ReturnSuspended"

    case_id: str
    missing_consents: dict[str, list[str]] = Field(description="purpose -> person ids")
    suspended_at: datetime


class ReturnResumed(DomainEvent):
    """Every consent the return needs stands again: the request of the case goes on."""

    event_type = "avrr.intake.ReturnResumed"

    case_id: CaseId
    resumed_at: datetime
    recorded_by: str = Field(max_length=200)


class CaseClosed(DomainEvent):
    event_type = "avrr.intake.CaseClosed"

    case_id: str
    reason: str = Field(max_length=100)
    closed_at: datetime
    # Optional additions (v1 stays v1): a closure through POST /cases/{id}/closure.
    note: Encrypted | None = None
    closed_by: str | None = Field(default=None, max_length=200)


# Why a withdrawn or closed case is taken up again (coded; the person's words go in a note).
ReopeningReason = Literal["person_returned", "closed_in_error", "other"]


class CaseReopened(DomainEvent):
    """A withdrawn or closed case is taken up again: the person came back and consents again.

    Same stream, so one history. The consents given before the case ended lapse
    with it: the reopening is followed by the returning person's new ConsentGiven,
    and every other consent the return needs is asked again.
    """

    event_type = "avrr.intake.CaseReopened"

    case_id: CaseId
    previous_status: Literal["withdrawn", "closed"]
    resumes_return: bool = Field(
        default=False,
        description="the case had applied to return: the request waits, suspended, for every "
        "member's consent and then resumes (ReturnResumed), as after a withdrawn consent",
    )
    reason: ReopeningReason
    note: Encrypted | None = None
    recorded_by: str = Field(max_length=200)
    reopened_at: datetime


# requested: a data protection officer erased the case (the person's request, say);
# retention: the retention period after the case's closure ended (retention.py).
ErasureReason = Literal["requested", "retention"]


class PersonalDataErased(DomainEvent):
    """Every person of the case was crypto-shredded (their keys deleted); history stays."""

    event_type = "avrr.intake.PersonalDataErased"

    case_id: CaseId
    person_ids: list[str]
    erased_at: datetime
    erased_by: str
    # Added after v1 with a default: earlier events read as "requested", the only kind then.
    reason: ErasureReason = "requested"


# Every event a Case records (its stream, intake's topic); the registry is events.py.
CASE_EVENTS: tuple[type[DomainEvent], ...] = (
    ReferralReceived,
    PossibleDuplicateFlagged,
    CounsellingRecorded,
    ConsentGiven,
    ConsentWithdrawn,
    ReturnRequested,
    ReturnSuspended,
    ReturnResumed,
    CaseWithdrawn,
    CaseClosed,
    PersonalDataErased,
    NeedsDeclared,
    DuplicateReferredElsewhere,
    CaseReopened,
    *TRANSFER_EVENTS,
    PersonalDataRectified,
    HouseholdFactsCorrected,
    ReturnRequestAmended,
    ReturnAmendmentRefused,
    NoteAdded,
    AttachmentAdded,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
    HouseholdMemberAdded,
    HouseholdAdditionReversed,
)


@dataclass
class Person:
    person_id: str
    relationship: Relationship
    sex: Sex
    age_years: int
    unaccompanied_minor: bool
    personal: Encrypted

    @classmethod
    def referred(cls, p: ReferredPerson) -> Person:
        """The person as a referral (or an addition to the household) describes them."""
        return cls(
            p.person_id, p.relationship, p.sex, p.age_years, p.unaccompanied_minor, p.personal
        )


class Case(Aggregate):
    """A household's case; its id is the case id (the events' subject and Kafka key)."""

    stream_type = "case"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status: Status | None = None
        self.office = ""
        self.nationality = ""
        self.host_country = ""
        self.languages: list[str] = []
        self.people: dict[str, Person] = {}
        self.consents: set[tuple[str, Purpose]] = set()
        self.erased = False
        self.applied = False  # a return was requested (a reopening resumes it)
        self.transfer: PendingTransfer | None = None  # the request awaiting its answer
        # The offices of the latest request; once it is accepted, the receiving office only:
        # the office that handed the case over is no party to it any more.
        self.transfer_parties: frozenset[str] = frozenset()
        self.transferred_from: set[str] = set()  # offices that handed the case over
        # The requested return as it stands: destination_country, destination_region,
        # programme_hint (None until requested).
        self.destination: dict[str, str | None] | None = None
        # People who left the household (their consents stay on record, and count no more).
        self.removed: dict[str, Person] = {}
        # The case's own personal data, the principal's (rectification.py replaces them).
        self.contact: Encrypted | None = None
        self.referrer: Encrypted | None = None
        self.referring_organisation: str | None = None
        self.current_city: Encrypted | str | None = None

    # ------------------------------------------------------------- state --
    def when(self, event: DomainEvent) -> None:
        match event:
            case ReferralReceived():
                self.status = "open"
                self.office = event.office
                self.nationality = event.nationality
                self.host_country = event.host_country
                self.languages = list(event.languages)
                self.people = {p.person_id: Person.referred(p) for p in event.household}
                self.contact = event.contact
                self.referrer = event.referrer
                self.referring_organisation = event.referring_organisation
                self.current_city = event.current_city
            case ConsentGiven(person_id=person_id, purpose=purpose):
                self.consents.add((person_id, purpose))
            case ConsentWithdrawn(person_id=person_id, purpose=purpose):
                self.consents = {
                    (p, c)
                    for p, c in self.consents
                    if not (c == purpose and person_id in (p, None))
                }
            case ReturnRequested():
                self.status = "return_requested"
                self.destination = _destination(event)
                self.applied = True
            case ReturnResumed():
                self.status = "return_requested"
            case ReturnRequestAmended() | ReturnAmendmentRefused():
                self.destination = _destination(event)
            case HouseholdMemberRemoved():
                self.removed[event.person_id] = self.people.pop(event.person_id)
            case HouseholdMemberRestored():
                self.people[event.person_id] = self.removed.pop(event.person_id)
            case HouseholdMemberAdded():
                self.people[event.member.person_id] = Person.referred(event.member)
            case HouseholdAdditionReversed():
                self.removed[event.person_id] = self.people.pop(event.person_id)
            case PersonalDataRectified():
                person = self.people[event.person_id]
                person.personal = event.personal
                if event.age_years is not None:
                    person.age_years = event.age_years
                if event.sex is not None:
                    person.sex = event.sex
                self.contact = event.contact or self.contact
                self.referrer = event.referrer or self.referrer
                if "referrer" in event.fields:
                    self.referring_organisation = event.referring_organisation
                self.current_city = event.current_city or self.current_city
            case HouseholdFactsCorrected():
                for member in event.household:
                    if (corrected := self.people.get(member.person_id)) is not None:
                        corrected.age_years = member.age_years
                        corrected.unaccompanied_minor = member.unaccompanied_minor
            case ReturnSuspended():
                self.status = "suspended_by_consent"
            case CaseWithdrawn():
                self.status = "withdrawn"
            case CaseClosed():
                self.status = "closed"
            case CaseReopened():
                self.status = "suspended_by_consent" if event.resumes_return else "open"
                self.consents = set()  # given for the case that ended: asked again
            case TransferRequested():
                self.transfer = PendingTransfer.of(event)
                self.transfer_parties = frozenset({event.from_office, event.to_office})
            case TransferAccepted():
                self.office = event.to_office
                self.transfer = None
                self.transfer_parties = frozenset({event.to_office})
                self.transferred_from.add(event.from_office)
            case TransferRejected() | TransferExpired():
                self.transfer = None
            case PersonalDataErased():
                self.erased = True
            case (
                CounsellingRecorded()
                | PossibleDuplicateFlagged()
                | NeedsDeclared()
                | DuplicateReferredElsewhere()
                | NoteAdded()
                | AttachmentAdded()
            ):
                pass

    # ---------------------------------------------------------- decisions --
    def must_exist(self) -> None:
        if not self.exists:
            raise no_case(self.id)

    def must_be_active(self, action: str) -> None:
        """Withdrawn, closed or erased cases allow nothing but erasure. ``action`` is an
        ``N_``-marked phrase ("record consent"): the refusal names it in the reader's language."""
        self.must_exist()
        if self.erased:
            raise erased(action)
        if self.status not in ACTIVE:
            raise DomainRuleViolation(
                wording=worded(
                    N_("cannot %(action)s: the case is %(status)s; only erasure is still possible"),
                    action=worded(action),
                    status=self.status,
                ),
                case_status=self.status,
            )

    def must_be_with(self, principal: Principal) -> None:
        """403 for a caller all of whose offices handed the case over and hold it no more.

        Routes check the caller's offices against the case list, which follows the
        stream within moments; this closes that moment for the office that handed the
        case over (a transfer accepted just now). Other offices (a receiving office the
        case was handed over to at the arrival, any office of a multi-office account)
        are the case list's to judge.
        """
        still = {self.office} | ({self.transfer.to_office} if self.transfer else set())
        gone = self.transferred_from - still  # (asked to take it back, it may answer)
        if gone and principal.offices and principal.offices <= gone:
            raise Forbidden(
                wording=worded(
                    N_("the case was transferred to office %(office)s"), office=self.office
                )
            )

    def must_know(self, person_id: str) -> Person:
        person = self.people.get(person_id)
        if person is None:
            raise not_a_member(person_id, self.id)
        return person

    def record_counselling(self, session: CounsellingRecorded) -> None:
        self.must_be_active(N_("record counselling"))
        self.record(session)
        if session.outcome == CLOSING_OUTCOME:
            self.record(
                CaseClosed(case_id=self.id, reason=CLOSING_OUTCOME, closed_at=session.recorded_at)
            )

    def give_consent(self, consent: ConsentGiven) -> None:
        self.must_be_active(N_("record consent"))
        person = self.must_know(consent.person_id)
        if person.age_years < ADULT_AGE and consent.given_by == "self":
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "person %(person)s is a child: their guardian or legal representative "
                        "gives consent (record the child's own views alongside)"
                    ),
                    person=person.person_id,
                )
            )
        if consent.given_by != "self" and not (
            consent.representative_person_id or consent.representative
        ):
            raise DomainRuleViolation(
                wording=worded(N_("name the guardian or representative who gives consent"))
            )
        if consent.representative_person_id is not None:
            self.must_know(consent.representative_person_id)
        self.record(consent)
        if self.status == "suspended_by_consent" and not self.missing_consents():
            self.record(
                ReturnResumed(
                    case_id=self.id, resumed_at=consent.recorded_at, recorded_by=consent.recorded_by
                )
            )

    def withdraw_consent(self, withdrawal: ConsentWithdrawn) -> None:
        self.must_exist()
        if self.erased:
            raise erased(N_("withdraw consent"))
        if withdrawal.person_id is not None:
            self.must_know(withdrawal.person_id)
        given = {
            (p, c)
            for p, c in self.consents
            if c == withdrawal.purpose and withdrawal.person_id in (p, None)
        }
        if not given:
            raise DomainRuleViolation(
                wording=worded(
                    N_("there is no consent for %(purpose)s to withdraw"),
                    purpose=withdrawal.purpose,
                ),
                purpose=withdrawal.purpose,
            )
        # Withdrawal is possible whatever the status: it must take effect everywhere.
        self.record(withdrawal)
        missing = self.missing_consents()
        if self.status == "return_requested" and missing:
            self.record(
                ReturnSuspended(
                    case_id=self.id, missing_consents=missing, suspended_at=withdrawal.withdrawn_at
                )
            )

    def must_have_medical_consent(self, person_id: str) -> None:
        """Health data is recorded only once the person's medical consent was given (and
        stands): not merely because none was withdrawn."""
        self.must_be_active(N_("record declared needs"))
        self.must_know(person_id)
        if (person_id, MEDICAL_DATA_PROCESSING) not in self.consents:
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "person %(person_id)s has not given consent to %(purpose)s: "
                        "their declared needs are health data"
                    ),
                    person_id=person_id,
                    purpose=MEDICAL_DATA_PROCESSING,
                ),
                field="declared_needs",
                missing_consents=[MEDICAL_DATA_PROCESSING],
            )

    def declare_needs(self, declaration: NeedsDeclared) -> None:
        self.must_have_medical_consent(declaration.person_id)
        self.record(declaration)

    def missing_consents(self) -> dict[str, list[str]]:
        """Purposes required for return that some household member has not consented to."""
        missing: dict[str, list[str]] = {}
        for purpose in REQUIRED_FOR_RETURN:
            for person_id in self.people:
                if (person_id, purpose) not in self.consents:
                    missing.setdefault(purpose, []).append(person_id)
        return missing

    def request_return(self, request: ReturnRequested) -> None:
        self.must_be_active(N_("request return"))
        if self.status == "return_requested":
            raise DomainRuleViolation(
                wording=worded(N_("return was already requested for this case"))
            )
        if self.status == "suspended_by_consent":
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "the return request is suspended: it resumes once every missing "
                        "consent is given again"
                    )
                ),
                missing_consents=list(self.missing_consents()),
            )
        missing = self.missing_consents()
        if missing:
            named = ", ".join(f"{p} (persons {', '.join(ids)})" for p, ids in missing.items())
            raise DomainRuleViolation(
                wording=worded(N_("missing consent: %(named)s"), named=named),
                missing_consents=list(missing),
                persons=missing,
            )
        self.record(request)

    def withdraw(self, withdrawal: CaseWithdrawn) -> None:
        self.must_be_active(N_("withdraw the case"))
        self.record(withdrawal)

    def close(self, closure: CaseClosed) -> None:
        """Close a case nothing runs for elsewhere: not applying, or not resuming its return."""
        self.must_be_active(N_("close the case"))
        if self.status not in CLOSABLE:
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "cannot close the case: its return is requested (%(status)s); the "
                        "person withdraws it instead (POST /cases/{id}/withdrawal)"
                    ),
                    status=self.status,
                ),
                case_status=self.status,
            )
        self.record(closure)

    def rectify(
        self, rectified: PersonalDataRectified, household: Sequence[HouseholdMember] = ()
    ) -> None:
        """Correct a person's data: whatever the case's status (the right to rectification
        outlives the case), but not once they were erased.

        ``household`` is the household's facts as corrected (ages on the day): while a
        return is under way, a correction of an age or a sex is passed on with them
        (HouseholdFactsCorrected), since other services decide on them."""
        self.must_exist()
        if self.erased:
            raise erased(N_("rectify"))
        self.must_know(rectified.person_id)
        self.record(rectified)
        changes_facts = any(f in HOUSEHOLD_FACTS for f in rectified.fields)
        if household and changes_facts and self.status in RETURN_UNDER_WAY:
            self.record(
                HouseholdFactsCorrected(
                    case_id=self.id,
                    person_id=rectified.person_id,
                    household=list(household),
                    corrected_at=rectified.rectified_at,
                )
            )

    def amend_return(self, amended: ReturnRequestAmended) -> None:
        """Another destination or programme for a requested return (clearance is checked by
        the command, and settled by eligibility: see amendment.py)."""
        self.must_be_active(N_("amend the return request"))
        if self.status != "return_requested" or self.destination is None:
            raise Conflict(
                wording=worded(
                    N_("only a requested return can be amended: the case is %(status)s")
                    if self.status == "open"
                    else N_(
                        "only a requested return can be amended: the case is %(status)s "
                        "(its return is suspended)"
                    ),
                    status=self.status,
                ),
                case_status=self.status,
            )
        self.record(amended)

    def refuse_amendment(self, refused: ReturnAmendmentRefused) -> None:
        """Eligibility had cleared the return when the amendment reached it: restore the
        destination cleared (idempotent: a refusal already recorded is not recorded again)."""
        if self.exists and not self.erased and self.destination != _destination(refused):
            self.record(refused)

    def remove_member(self, removal: HouseholdMemberRemoved) -> None:
        """Take a person off the household: never the principal, nor the last adult of a
        household with children. The return a missing consent of theirs suspended resumes."""
        self.must_be_active(N_("remove a household member"))
        person = self.must_know(removal.person_id)
        if person.relationship == "principal":
            raise DomainRuleViolation(
                wording=worded(N_("the principal cannot be removed from their own case")),
                field="person_id",
            )
        remaining = [p for p in self.people.values() if p.person_id != person.person_id]
        if any(p.age_years < ADULT_AGE for p in remaining) and not any(
            p.age_years >= ADULT_AGE for p in remaining
        ):
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "person %(person)s is the last adult of a household with children: "
                        "the children would travel unaccompanied (that needs a best-interests "
                        "determination, in a case of its own)"
                    ),
                    person=person.person_id,
                ),
                field="person_id",
            )
        self.record(removal)
        if self.status == "suspended_by_consent" and not self.missing_consents():
            self.record(
                ReturnResumed(
                    case_id=self.id, resumed_at=removal.removed_at, recorded_by=removal.removed_by
                )
            )

    def restore_member(self, restored: HouseholdMemberRestored) -> None:
        """Travel refused a removal (the household had departed): the person is back
        (idempotent: someone not removed, or restored already, is not restored again)."""
        if restored.person_id in self.removed and not self.erased:
            self.record(restored)

    def add_member(self, added: HouseholdMemberAdded) -> None:
        """Bring a person into the household with the rules a referral has: one principal,
        at most HOUSEHOLD_LIMIT people, and no adult joining an unaccompanied child (their
        claim to the child is for family tracing and a best-interests determination, in a
        case of its own)."""
        self.must_be_active(N_("add a household member"))
        member = added.member
        if member.relationship == "principal":
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "the case has its principal: a person joins as spouse, child, parent, "
                        "sibling or other"
                    )
                ),
                field="person.relationship",
            )
        if len(self.people) >= HOUSEHOLD_LIMIT:
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "a household has at most %(limit)s people: refer them in a case of "
                        "their own"
                    ),
                    limit=HOUSEHOLD_LIMIT,
                ),
                field="person",
            )
        if member.age_years >= ADULT_AGE and any(
            p.unaccompanied_minor for p in self.people.values()
        ):
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "the case is an unaccompanied child's: an adult does not join it (family "
                        "tracing and a best-interests determination decide that, in a case of "
                        "its own)"
                    )
                ),
                field="person.date_of_birth",
            )
        self.record(added)

    def reverse_addition(self, reversed_: HouseholdAdditionReversed) -> None:
        """Travel refused an addition (the household had departed first): the person
        is not a member (idempotent: someone no longer a member is not reversed again)."""
        if reversed_.person_id in self.people and not self.erased:
            self.record(reversed_)

    def erase(self, erasure: PersonalDataErased) -> None:
        self.must_exist()
        if self.erased:
            raise DomainRuleViolation(
                wording=worded(N_("the case's personal data is already erased"))
            )
        self.record(erasure)

    def reopenable(self) -> Literal["withdrawn", "closed"]:
        """The status a reopening ends (422 unless withdrawn or closed, and not erased: an
        erased case's people are gone, so the person is referred again as a new case)."""
        self.must_exist()
        if self.erased:
            raise DomainRuleViolation(
                wording=worded(
                    N_(
                        "cannot reopen the case: its personal data was erased; refer the person "
                        "again (a new case)"
                    )
                ),
                case_status=self.status,
            )
        if self.status == "withdrawn" or self.status == "closed":
            return self.status
        raise DomainRuleViolation(
            wording=worded(
                N_("cannot reopen the case: it is %(status)s, not withdrawn or closed"),
                status=self.status,
            ),
            case_status=self.status,
        )

    def reopen(self, reopening: CaseReopened) -> None:
        self.reopenable()
        self.record(reopening)

    # ---------------------------------------------------------- transfers --
    def request_transfer(self, request: TransferRequested) -> None:
        """Ask ``request.to_office`` to take the case over; 409 while another request waits."""
        self.must_be_active(N_("transfer the case"))
        pending = self.transfer
        if pending is not None and not pending.lapsed(request.requested_at):
            raise Conflict(
                wording=worded(
                    N_("a transfer to office %(office)s awaits its answer until %(expires_at)s"),
                    office=pending.to_office,
                    expires_at=pending.expires_at.isoformat(),
                ),
                transfer_id=pending.transfer_id,
            )
        if request.to_office == self.office:
            raise DomainRuleViolation(
                wording=worded(N_("the case is already office %(office)s's"), office=self.office),
                field="to_office",
            )
        if pending is not None:  # lapsed, and the expiry job has not recorded it yet
            self.record(self.expiry(pending, pending.expires_at))
        self.record(request)

    def answer_transfer(self, answer: TransferAccepted | TransferRejected, at: datetime) -> None:
        """Accept or reject the pending request (409 once answered or past its deadline)."""
        self.must_exist()
        if self.erased:
            raise erased(N_("answer the transfer"))
        if self.transfer is None:
            raise no_pending(answer.transfer_id)
        self.transfer.answerable(answer.transfer_id, at)
        self.record(answer)

    def expire_transfer(self, transfer_id: str, at: datetime) -> None:
        """Record that the pending request ``transfer_id`` lapsed (409 if it is not pending
        or not due yet)."""
        self.must_exist()
        pending = self.transfer
        if pending is None or pending.transfer_id != transfer_id:
            raise no_pending(transfer_id)
        if not pending.lapsed(at):
            raise Conflict(
                wording=worded(
                    N_("transfer %(transfer)s may be answered until %(expires_at)s"),
                    transfer=transfer_id,
                    expires_at=pending.expires_at.isoformat(),
                ),
                transfer_id=transfer_id,
            )
        self.record(self.expiry(pending, at))

    def expiry(self, pending: PendingTransfer, at: datetime) -> TransferExpired:
        return TransferExpired(
            case_id=self.id,
            transfer_id=pending.transfer_id,
            from_office=pending.from_office,
            to_office=pending.to_office,
            recorded_by=EXPIRY_ACTOR,
            expired_at=at,
        )


def _destination(
    event: ReturnRequested | ReturnRequestAmended | ReturnAmendmentRefused,
) -> dict[str, str | None]:
    return {
        "destination_country": event.destination_country,
        "destination_region": event.destination_region,
        "programme_hint": event.programme_hint,
    }


class CaseRepository(Repository[Case]):
    """The cases as intake's commands load them: each command first checks that the caller
    is not an office that handed the case over (``Case.must_be_with``), then its own guard."""

    async def execute(
        self,
        aggregate_id: str,
        context: CommandContext,
        decide: Callable[[Case], Awaitable[object] | object],
        *,
        guard: Callable[[Case], object] | None = None,
        conn: AsyncConnection | None = None,
    ) -> Executed[Case]:
        def with_the_case(case: Case) -> None:
            case.must_be_with(context.principal)
            if guard is not None:
                guard(case)

        return await super().execute(aggregate_id, context, decide, guard=with_the_case, conn=conn)
