"""Commands: validated requests -> the Case's decisions -> events in the store (and outbox).

Input is checked completely before anything is written (ISO 3166-1 alpha-2
countries against the real list, dates of birth not in the future, maximum
lengths everywhere), so an invalid request leaves no trace. Personal values
are encrypted for their person before they go into an event; the events then
carry only ciphertext and non-personal facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from avrr_events import ERASED, ConcurrencyError, Encrypted, Repository
from avrr_events.aggregate import Executed
from avrr_events.commands import CommandContext, CommandResult, Principal
from avrr_events.dates import PastDate, not_in_future
from avrr_events.entered_places import EnteredDestination
from avrr_events.offices import RECEIVING_KINDS
from avrr_events.personal import HEALTH
from avrr_events.places import COUNTRY_CODES
from avrr_events.problems import Conflict, DomainRuleViolation, Forbidden
from avrr_events.validation import InvalidValue
from avrr_events.web.authorization import Role, may_see
from avrr_events.web.service import ServiceRuntime
from avrr_intake import authorities, consent_texts, handover, read_models, reports
from avrr_intake.amendment import (
    AMENDABLE_FIELDS,
    AmendmentReason,
    ReturnRequestAmended,
)
from avrr_intake.case import (
    Case,
    CaseClosed,
    CaseReopened,
    CaseRepository,
    CaseWithdrawn,
    ErasureReason,
    HouseholdMember,
    Person,
    PersonalDataErased,
    ReopeningReason,
    ReturnRequested,
)
from avrr_intake.consent import (
    REQUIRED_FOR_RETURN,
    AuthorityField,
    ConsentGiven,
    ConsentWithdrawn,
    GivenBy,
    Purpose,
    WithdrawalReason,
    withdrawal_reasons_described,
)
from avrr_intake.counselling import CounsellingRecorded, Outcome
from avrr_intake.events import registry
from avrr_intake.health import DECLARED_NEEDS, NeedsDeclared
from avrr_intake.household_change import (
    AdditionReason,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    RemovalReason,
)
from avrr_intake.notices import N_, worded
from avrr_intake.rectification import (
    HOUSEHOLD_FACTS,
    PERSONAL_FIELDS,
    RECTIFIABLE_FIELDS,
    PersonalDataRectified,
    RectifiableField,
    RectificationReason,
)
from avrr_intake.referral import (
    ADULT_AGE,
    DuplicateMatch,
    DuplicateReferredElsewhere,
    PossibleDuplicateFlagged,
    ReferralReceived,
    ReferralSource,
    ReferredPerson,
    Relationship,
    Sex,
    age_on,
    duplicate_key,
)
from avrr_intake.timeline import FIXED_FROM, TRAVELLED_FROM
from avrr_intake.transfer import (
    RejectionReason,
    TransferAccepted,
    TransferReason,
    TransferRejected,
    TransferRequested,
    deadline,
    ensure_receiving_office,
)

SOURCE = "/avrr/intake"
# Staff working on cases; a referring partner is not (it learns no possible duplicates).
CASEWORK = (Role.CASEWORKER, Role.SUPERVISOR)


NOT_A_COUNTRY = worded(N_("not an ISO 3166-1 alpha-2 country code"))


def _iso_country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code) is None:
        raise InvalidValue(NOT_A_COUNTRY)
    return code


def _iso_language(code: str) -> str:
    lookup = {2: "alpha_2", 3: "alpha_3"}.get(len(code))
    if lookup is None or pycountry.languages.get(**{lookup: code}) is None:
        raise InvalidValue(worded(N_("not an ISO 639-1 or ISO 639-3 language code")))
    return code


def _born_plausibly(day: date) -> date:
    not_in_future(day)
    if day.year < 1900:
        raise InvalidValue(worded(N_("must not be before 1900")))
    return day


# The OpenAPI states each rule the validators enforce: the ISO list as an enum, a blank
# text as a pattern; what JSON Schema cannot say (today's date) is in the description.
IsoCountry = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", json_schema_extra={"enum": list(COUNTRY_CODES)}),
    AfterValidator(_iso_country),
]
BirthDate = Annotated[
    date,
    AfterValidator(_born_plausibly),
    Field(
        description="from 1900-01-01 to today (UTC); another date is refused (422)",
        json_schema_extra={"pattern": "^(19[0-9]{2}|[2-9][0-9]{3})-"},
    ),
]
_Trimmed = StringConstraints(strip_whitespace=True, min_length=1)
_NotBlank = Field(json_schema_extra={"pattern": r"\S"})
Name = Annotated[str, _Trimmed, StringConstraints(max_length=200), _NotBlank]
ShortText = Annotated[str, _Trimmed, StringConstraints(max_length=100), _NotBlank]
# Languages as ISO 639-1 ("es") or, for languages without one, ISO 639-3 ("mam", "quc").
Language = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{2,3}$",
        description="an ISO 639-1 code, or ISO 639-3 for a language without one "
        "(es, mam, quc); a code neither list has is refused (422)",
        examples=["es", "mam"],
    ),
    AfterValidator(_iso_language),
]
LongText = Annotated[str, _Trimmed, StringConstraints(max_length=2000), _NotBlank]
DocumentNumber = Annotated[str, _Trimmed, StringConstraints(max_length=50), _NotBlank]
Phone = Annotated[str, _Trimmed, StringConstraints(max_length=50), _NotBlank]
Email = Annotated[str, _Trimmed, StringConstraints(max_length=254), _NotBlank]
Address = Annotated[str, _Trimmed, StringConstraints(max_length=500), _NotBlank]
Need = Annotated[str, _Trimmed, StringConstraints(max_length=500), _NotBlank]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonIn(Input):
    given_names: Name
    family_name: Name
    date_of_birth: BirthDate
    sex: Sex
    relationship: Relationship
    document_type: Literal["passport", "national_id", "birth_certificate", "other"] | None = None
    document_number: DocumentNumber | None = None


class ContactIn(Input):
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None


class ReferrerIn(Input):
    name: Name
    organisation: Name | None = None
    contact: Name | None = None


class LocationIn(Input):
    country: IsoCountry
    city: ShortText | None = None


class ReferralIn(Input):
    """A referral from a partner, or a self-referral."""

    # The cross-field rules of the validators below, stated for clients: a partner's
    # referral names its referrer (a self-referral need not).
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"properties": {"source": {"const": "self_referral"}}},
                {
                    "properties": {
                        "source": {"not": {"const": "self_referral"}},
                        "referrer": {"type": "object"},
                    },
                    "required": ["referrer"],
                },
            ]
        }
    )

    source: ReferralSource
    referrer: ReferrerIn | None = None
    contact_sharing_consented: bool = Field(
        description="the referrer confirms the migrant consented to share their contact details"
    )
    contact: ContactIn | None = Field(
        default=None, description="kept only when contact_sharing_consented is true"
    )
    current_location: LocationIn
    nationality: IsoCountry
    languages: list[Language] = Field(default_factory=list, max_length=10)
    household: list[PersonIn] = Field(
        min_length=1,
        max_length=30,
        description="exactly one person with relationship 'principal'",
        json_schema_extra={
            "contains": {"properties": {"relationship": {"const": "principal"}}},
            "minContains": 1,
            "maxContains": 1,
        },
    )
    declared_needs: list[Need] = Field(
        default_factory=list,
        max_length=20,
        json_schema_extra={"maxItems": 0},
        description="refused (422): needs are health data, recorded only after the person's "
        "consent to medical_data_processing, with POST /cases/{case_id}/declared-needs",
    )
    office: ShortText

    @field_validator("declared_needs")
    @classmethod
    def _no_health_data_before_consent(cls, needs: list[str]) -> list[str]:
        if needs:
            raise InvalidValue(
                worded(
                    N_(
                        "declared needs are health data: record the person's consent to "
                        "medical_data_processing on the case, then POST "
                        "/cases/{case_id}/declared-needs"
                    )
                )
            )
        return needs

    @model_validator(mode="after")
    def _one_principal_and_a_referrer(self) -> Self:
        principals = [p for p in self.household if p.relationship == "principal"]
        if len(principals) != 1:
            raise InvalidValue(
                worded(N_("the household needs exactly one person with relationship 'principal'"))
            )
        if self.source != "self_referral" and self.referrer is None:
            raise InvalidValue(worded(N_("a referral from a partner names the referrer")))
        return self


class CounsellingIn(Input):
    held_on: PastDate
    office: ShortText
    counsellor: Name | None = Field(default=None, description="default: the caller")
    language: Language
    topics: list[ShortText] = Field(default_factory=list, max_length=20)
    outcome: Outcome
    notes: LongText | None = None


class RepresentativeIn(Input):
    name: Name
    relationship: ShortText


class ConsentIn(Input):
    # shared_fields (not null) only with the purpose share_with_authorities, as validated below.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {"shared_fields": {"type": "array"}},
                "required": ["shared_fields"],
            },
            "then": {"properties": {"purposes": {"contains": {"const": "share_with_authorities"}}}},
        }
    )

    person_id: ShortText
    purposes: list[Purpose] = Field(min_length=1, max_length=5)
    given_on: PastDate
    given_by: GivenBy = "self"
    representative_person_id: ShortText | None = None
    representative: RepresentativeIn | None = None
    child_views: LongText | None = None
    language: Language = Field(
        description="the language the consent texts were shown (or interpreted) in: "
        "an ISO 639-1 code, or ISO 639-3 for a language without one (es, mam, quc); "
        "a code neither list has is refused (422)"
    )
    text_version: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}$",
        json_schema_extra={"enum": list(consent_texts.EDITIONS)},
        description="the edition of the consent texts the person was shown "
        "(GET /notices/consent-purposes/{purpose}?version=...); absent: the current one",
    )
    shared_fields: list[AuthorityField] | None = Field(
        default=None,
        max_length=6,
        description="with share_with_authorities: the fields the person agrees to share "
        "with the authorities of their country of origin (absent: none)",
    )

    @field_validator("text_version")
    @classmethod
    def _known_edition(cls, edition: str | None) -> str | None:
        if edition is not None and edition not in consent_texts.EDITIONS:
            known = ", ".join(consent_texts.EDITIONS)
            raise InvalidValue(
                worded(N_("no consent texts of this edition (known: %(known)s)"), known=known)
            )
        return edition

    @model_validator(mode="after")
    def _fields_only_for_authorities(self) -> Self:
        if self.shared_fields is not None and "share_with_authorities" not in self.purposes:
            raise InvalidValue(
                worded(N_("shared_fields belong to the purpose share_with_authorities"))
            )
        return self


class ConsentWithdrawalIn(Input):
    person_id: ShortText | None = Field(
        default=None, description="absent: withdraw this purpose for every person of the case"
    )
    reason: WithdrawalReason = Field(
        description=withdrawal_reasons_described("why the person withdraws it (coded, required)")
    )
    note: LongText | None = Field(
        default=None, description="what the person said; stored encrypted under their key"
    )


class ReturnRequestIn(Input, EnteredDestination):
    destination_country: IsoCountry
    destination_region: ShortText | None = Field(
        default=None,
        description="an ISO 3166-2 code (HN-AT or AT) or a name; kept as entered, "
        "compared by avrr_events.places",
    )
    programme_hint: ShortText | None = None


class ReturnAmendmentIn(Input, EnteredDestination):
    """The return request as it should now read (a field left out is no longer requested)."""

    destination_country: IsoCountry
    destination_region: ShortText | None = Field(
        default=None, description="as in the return request: an ISO 3166-2 code or a name"
    )
    programme_hint: ShortText | None = None
    reason: AmendmentReason = Field(description="why the request changes (coded)")
    note: LongText | None = Field(
        default=None, description="what the person said; stored encrypted under their key"
    )


DocumentType = Literal["passport", "national_id", "birth_certificate", "other"]


# What a rectification may correct: the person's record, their sex, and (on the principal,
# whose they are) the case's contact details, referrer and current city.
_CORRECTABLE: tuple[tuple[str, str], ...] = (
    ("given_names", "string"),
    ("family_name", "string"),
    ("date_of_birth", "string"),
    ("document_number", "string"),
    ("sex", "string"),
    ("contact", "object"),
    ("referrer", "object"),
    ("current_city", "string"),
)


class RectificationIn(Input):
    """The corrected values of one person (only those given change) and why."""

    # The cross-field rules of the validator below, stated for clients: at least one value
    # to correct; a document type only with its number; contact details with one value.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": kind}}}
                for name, kind in _CORRECTABLE
            ],
            "dependentRequired": {"document_type": ["document_number"]},
        }
    )

    person_id: ShortText
    given_names: Name | None = None
    family_name: Name | None = None
    date_of_birth: BirthDate | None = None
    document_type: DocumentType | None = Field(
        default=None, description="with document_number: the corrected identity document"
    )
    document_number: DocumentNumber | None = None
    sex: Sex | None = Field(
        default=None,
        description="the corrected sex (other services decide on it: passed on to them while "
        "a return is under way)",
    )
    contact: ContactIn | None = Field(
        default=None,
        description="principal only: the case's contact details as they should now read (a "
        "field left out is no longer kept); only where the referral recorded contact details",
        json_schema_extra={"minProperties": 1},
    )
    referrer: ReferrerIn | None = Field(
        default=None,
        description="principal only: the referrer as it should now read; only where the "
        "referral named one",
    )
    current_city: ShortText | None = Field(
        default=None, description="principal only: the city the household lives in now"
    )
    reason: RectificationReason = Field(description="why the data is corrected (coded)")
    note: LongText | None = Field(
        default=None, description="what the person said; stored encrypted under their key"
    )

    @model_validator(mode="after")
    def _something_to_correct(self) -> Self:
        if not any(getattr(self, name) is not None for name, _kind in _CORRECTABLE):
            raise InvalidValue(
                worded(
                    N_("give at least one corrected value: %(fields)s"),
                    fields=", ".join(name for name, _kind in _CORRECTABLE),
                )
            )
        if self.document_type is not None and self.document_number is None:
            raise InvalidValue(
                worded(N_("document_type is corrected together with document_number"))
            )
        if self.contact is not None and not self.contact.model_dump(exclude_none=True):
            raise InvalidValue(worded(N_("contact: give at least one of phone, email, address")))
        return self

    @property
    def corrects_the_case(self) -> bool:
        """Whether it corrects the case's data (the principal's): contact, referrer, city."""
        return any(v is not None for v in (self.contact, self.referrer, self.current_city))

    def corrected(self, recorded: dict[str, Any]) -> tuple[dict[str, Any], list[RectifiableField]]:
        """The person's record with these corrections, and which of its fields changed."""
        record = dict(recorded)
        for name in ("given_names", "family_name"):
            if (value := getattr(self, name)) is not None:
                record[name] = value
        if self.date_of_birth is not None:
            record["date_of_birth"] = self.date_of_birth.isoformat()
        if self.document_number is not None:
            kind = self.document_type or (recorded.get("document") or {}).get("type")
            record["document"] = {"type": kind, "number": self.document_number}
        changed = [f for f in PERSONAL_FIELDS if record.get(f) != recorded.get(f)]
        return record, changed


class HouseholdRemovalIn(Input):
    """A person who leaves the household before departure, and why."""

    person_id: ShortText
    reason: RemovalReason = Field(description="why they leave the household (coded)")
    note: LongText | None = Field(
        default=None, description="what was said; stored encrypted under the person's key"
    )


class MemberConsentIn(ConsentIn):
    """The consent of a person joining the household, given with the addition."""

    person_id: None = Field(  # type: ignore[assignment]
        default=None, description="left out: the person is the one the addition brings in"
    )


class HouseholdAdditionIn(Input):
    """A person who joins the household before departure, and why."""

    person: PersonIn = Field(
        description="as a referral's household member; relationship never 'principal' "
        "(422), and an adult never joins an unaccompanied child's case (422)"
    )
    reason: AdditionReason = Field(description="why they join the household (coded)")
    note: LongText | None = Field(
        default=None, description="what was said; stored encrypted under the new person's key"
    )
    consent: MemberConsentIn | None = Field(
        default=None,
        description="the new person's consent; once the return was requested it comes with "
        "the addition and its purposes include "
        + ", ".join(REQUIRED_FOR_RETURN)
        + " (422 naming consent otherwise)",
    )


class NeedsIn(Input):
    """A person's declared needs (health data: their medical consent must be given first)."""

    person_id: ShortText
    declared_needs: list[Need] = Field(min_length=1, max_length=20)


class WithdrawalIn(Input):
    """The person withdraws from the return: why (a code, required), and in their words."""

    reason: WithdrawalReason = Field(
        description=withdrawal_reasons_described("why the person withdraws (coded, required)")
    )
    note: LongText | None = Field(
        default=None, description="what the person said; stored encrypted under their key"
    )


class ClosureIn(Input):
    """Closing a case that is open (never applied) or whose return is suspended."""

    reason: WithdrawalReason = Field(
        description=withdrawal_reasons_described("why the case ends (coded, required)")
    )
    note: LongText | None = Field(
        default=None, description="what the person said; stored encrypted under their key"
    )


class ReopeningIn(Input):
    """The person came back: why the case is taken up again, and their consent given again."""

    reason: ReopeningReason
    note: LongText | None = Field(
        default=None, description="what the person said; stored encrypted under their key"
    )
    consent: ConsentIn = Field(
        description="the returning person's consent, given again; its purposes include "
        + ", ".join(REQUIRED_FOR_RETURN)
    )

    @field_validator("consent")
    @classmethod
    def _consents_to_the_return(cls, consent: ConsentIn) -> ConsentIn:
        missing = [p for p in REQUIRED_FOR_RETURN if p not in consent.purposes]
        if missing:
            raise InvalidValue(
                worded(
                    N_("a case is reopened with the person's consent to %(purposes)s"),
                    purposes=", ".join(missing),
                )
            )
        return consent


OfficeField = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


class TransferRequestIn(Input):
    """The office holding the case asks another office (of the office registry) to take it."""

    to_office: OfficeField
    reason: TransferReason
    note: LongText | None = Field(
        default=None, description="why, in words; stored encrypted under the principal's key"
    )


class TransferAcceptanceIn(Input):
    note: LongText | None = Field(
        default=None, description="stored encrypted under the principal's key"
    )


class TransferRejectionIn(Input):
    reason: RejectionReason
    note: LongText | None = Field(
        default=None, description="stored encrypted under the principal's key"
    )


# (key, case id, person id) of the people of active cases with any of these duplicate keys.
DuplicateLookup = Callable[[list[str]], Awaitable[list[tuple[str, str, str]]]]


class IntakeCommands:
    """Every intake command, each one load -> decide -> append (``Repository.execute``)."""

    def __init__(self, runtime: ServiceRuntime, duplicate_secret: bytes) -> None:
        self.runtime = runtime
        self.cipher = runtime.cipher
        self.secret = duplicate_secret
        self.repo: Repository[Case] = CaseRepository(runtime.store, registry, Case, source=SOURCE)
        # Where a referral looks up its people's possible duplicates: a query each, but for
        # an import, which answers a batch of referrals from one (caseload.py).
        self.duplicates: DuplicateLookup = self.duplicate_matches

    async def duplicate_matches(self, keys: list[str]) -> list[tuple[str, str, str]]:
        """(key, case id, person id) of the people of active cases with these duplicate keys."""
        async with self.runtime.db.autocommit() as conn:
            return await read_models.duplicate_matches(conn, keys)

    async def receive_referral(
        self, case_id: str, cmd: ReferralIn, ctx: CommandContext
    ) -> CommandResult:
        """Open the case ``case_id`` (``new_case_id``). Only casework staff learn its possible
        duplicates (of their offices' cases named, of others' only said): a referring
        partner learns its referral's ids, not which other cases match it."""
        by = ctx.principal
        now = datetime.now(UTC)
        ids = [str(uuid.uuid4()) for _ in cmd.household]
        ages = [age_on(p.date_of_birth, now.date()) for p in cmd.household]
        has_adult = any(a >= ADULT_AGE for a in ages)
        principal_id = next(
            pid for pid, p in zip(ids, cmd.household, strict=True) if p.relationship == "principal"
        )
        household: list[ReferredPerson] = []
        keys: dict[str, str] = {}
        for pid, age, p in zip(ids, ages, cmd.household, strict=True):
            person, key = await self._referred_person(pid, p, age, cmd.nationality, has_adult)
            keys[key] = pid
            household.append(person)
        contact = None
        if cmd.contact_sharing_consented and cmd.contact is not None:
            contact = await self.cipher.encrypt(
                principal_id, cmd.contact.model_dump(exclude_none=True)
            )
        referrer = None
        if cmd.referrer is not None:
            referrer = await self.cipher.encrypt(
                principal_id, {"name": cmd.referrer.name, "contact": cmd.referrer.contact}
            )
        needs = (
            await self.cipher.encrypt(principal_id, cmd.declared_needs)
            if cmd.declared_needs
            else None
        )
        # Where the person lives now can find them: encrypted like their contact details.
        city = cmd.current_location.city
        city_sealed = await self.cipher.encrypt(principal_id, city) if city else None
        case = Case(case_id)
        case.record(
            ReferralReceived(
                case_id=case_id,
                source=cmd.source,
                referring_organisation=cmd.referrer.organisation if cmd.referrer else None,
                referrer=referrer,
                contact_sharing_consented=cmd.contact_sharing_consented,
                contact=contact,
                office=cmd.office,
                host_country=cmd.current_location.country,
                current_city=city_sealed,
                nationality=cmd.nationality,
                languages=list(cmd.languages),
                household=household,
                declared_needs=needs,
                received_by=by.user_id,
                received_at=now,
            )
        )
        matches, elsewhere = await self._possible_duplicates(case, keys, by, now)
        # A new stream: nothing to load, and no If-Match to compare (it names no version yet).
        written = await self.repo.save(case, ctx.cause(case_id))
        for other_case, other_person in elsewhere:
            await self._tell_elsewhere(other_case, other_person, now, ctx)
        staff = by.has_any_role(CASEWORK)
        return _answer(
            Executed(case, [e.type for e in written]),
            201,
            status="open",
            household=[
                {"person_id": pid, "relationship": p.relationship}
                for pid, p in zip(ids, cmd.household, strict=True)
            ],
            possible_duplicates=[m.model_dump() for m in matches] if staff else [],
            # A match in another office's case: said, never named (no case or person id).
            possible_duplicate_elsewhere=bool(elsewhere) if staff else False,
        )

    async def _referred_person(
        self, pid: str, p: PersonIn, age: int, nationality: str, has_adult: bool
    ) -> tuple[ReferredPerson, str]:
        """One household member as a referral (or an addition) records them: personal data
        and duplicate key sealed under their own key; and that key, to look for matches."""
        personal: dict[str, Any] = {
            "given_names": p.given_names,
            "family_name": p.family_name,
            "date_of_birth": p.date_of_birth.isoformat(),
        }
        if p.document_number:
            personal["document"] = {"type": p.document_type, "number": p.document_number}
        key = person_key(self.secret, p, nationality)
        person = ReferredPerson(
            person_id=pid,
            relationship=p.relationship,
            sex=p.sex,
            age_years=age,
            unaccompanied_minor=age < ADULT_AGE and not has_adult,
            personal=await self.cipher.encrypt(pid, personal),
            duplicate_key=await self.cipher.encrypt(pid, key),
        )
        return person, key

    async def _possible_duplicates(
        self, case: Case, keys: dict[str, str], by: Principal, now: datetime
    ) -> tuple[list[DuplicateMatch], list[tuple[str, str]]]:
        """Flag on ``case`` the people of ``keys`` (duplicate key -> person id) who look like
        a person of another open case; the matches named, and those of offices ``by`` does not
        see (their case and person, told with _tell_elsewhere once the case is saved)."""
        matches: list[DuplicateMatch] = []
        elsewhere: list[tuple[str, str]] = []
        found = await self.duplicates(list(keys))
        if found:
            async with self.runtime.db.autocommit() as conn:
                for key, found_case, found_person in found:
                    if found_case == case.id:
                        raise DomainRuleViolation(
                            wording=worded(
                                N_(
                                    "this person is already a member of the case "
                                    "(person %(person)s)"
                                ),
                                person=found_person,
                            ),
                            field="person",
                        )
                    # Another office's case is never named to this user: only counted, and
                    # that office is told on its own case (DuplicateReferredElsewhere).
                    if may_see(by, await handover.case_offices(conn, found_case) or ()):
                        matches.append(
                            DuplicateMatch(
                                person_id=keys[key],
                                matching_case_id=found_case,
                                matching_person_id=found_person,
                            )
                        )
                    else:
                        elsewhere.append((found_case, found_person))
        if matches or elsewhere:
            case.record(
                PossibleDuplicateFlagged(
                    case_id=case.id, matches=matches, elsewhere=len(elsewhere), flagged_at=now
                )
            )
        return matches, elsewhere

    async def _tell_elsewhere(
        self, case_id: str, person_id: str, at: datetime, ctx: CommandContext
    ) -> None:
        """Record on another office's case that its person was referred again elsewhere.

        After the referral's own commit, on the other case's stream: a command
        racing on that case makes this retry on the fresh state instead of
        failing the referral. The referral's If-Match is not about that case.
        """
        told = DuplicateReferredElsewhere(case_id=case_id, person_id=person_id, flagged_at=at)
        for _ in range(5):
            try:
                await self.repo.execute(
                    case_id, replace(ctx, if_match=None), lambda case: case.record(told)
                )
                return
            except ConcurrencyError:
                continue

    async def record_counselling(
        self, case_id: str, cmd: CounsellingIn, ctx: CommandContext
    ) -> CommandResult:
        async def decide(case: Case) -> None:
            principal = _principal_id(case)
            notes = await self.cipher.encrypt(principal, cmd.notes) if cmd.notes else None
            case.record_counselling(
                CounsellingRecorded(
                    case_id=case_id,
                    session_id=str(uuid.uuid4()),
                    held_on=cmd.held_on,
                    office=cmd.office,
                    counsellor=cmd.counsellor or ctx.principal.user_id,
                    language=cmd.language,
                    # What was talked about describes the person (debts, threats, health).
                    topics=(
                        await self.cipher.encrypt(principal, list(cmd.topics)) if cmd.topics else []
                    ),
                    outcome=cmd.outcome,
                    notes=notes,
                    recorded_at=datetime.now(UTC),
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def give_consent(
        self, case_id: str, cmd: ConsentIn, ctx: CommandContext
    ) -> CommandResult:
        async def decide(case: Case) -> None:
            await self._consent(case, cmd, ctx)

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def _consent(self, case: Case, cmd: ConsentIn, ctx: CommandContext) -> None:
        """Record ``cmd``'s consents on ``case`` (each purpose one ConsentGiven)."""
        case_id = case.id
        case.must_know(cmd.person_id)
        representative = (
            await self.cipher.encrypt(cmd.person_id, cmd.representative.model_dump())
            if cmd.representative
            else None
        )
        views = (
            await self.cipher.encrypt(cmd.person_id, cmd.child_views) if cmd.child_views else None
        )
        now = datetime.now(UTC)
        for purpose in dict.fromkeys(cmd.purposes):
            case.give_consent(
                ConsentGiven(
                    case_id=case_id,
                    person_id=cmd.person_id,
                    purpose=purpose,
                    given_on=cmd.given_on,
                    given_by=cmd.given_by,
                    representative_person_id=cmd.representative_person_id,
                    representative=representative,
                    child_views=views,
                    language=cmd.language,
                    recorded_by=ctx.principal.user_id,
                    recorded_at=now,
                    text_version=consent_texts.text_version(purpose, cmd.text_version),
                    shared_fields=(
                        list(dict.fromkeys(cmd.shared_fields or ()))
                        if purpose == "share_with_authorities" and cmd.shared_fields is not None
                        else None
                    ),
                )
            )
        if "share_with_authorities" in cmd.purposes and cmd.shared_fields:
            # The key its public records are sealed under (authorities.py); once the case
            # accepted the consent, so that a refused one leaves no key behind.
            await authorities.create_disclosure_key(self.cipher.keys, case_id, cmd.person_id)

    async def withdraw_consent(
        self, case_id: str, purpose: Purpose, cmd: ConsentWithdrawalIn, ctx: CommandContext
    ) -> CommandResult:
        async def decide(case: Case) -> None:
            if cmd.person_id is not None:
                case.must_know(cmd.person_id)
            # The person's own words under their key (the principal's for the household).
            speaker = cmd.person_id or _principal_id(case)
            # (none for an erased case: that would make a new key; the case refuses anyway)
            note = None if case.erased else await self._sealed_note(speaker, cmd.note)
            case.withdraw_consent(
                ConsentWithdrawn(
                    case_id=case_id,
                    person_id=cmd.person_id,
                    purpose=purpose,
                    withdrawn_at=datetime.now(UTC),
                    recorded_by=ctx.principal.user_id,
                    reason=cmd.reason,
                    note=note,
                )
            )

        async with self.runtime.db.transaction() as conn:
            # Takes effect at once for the public records too: waits for one of this
            # case being published, and none is rendered from before it (authorities.py).
            await authorities.exclude_publication(conn, case_id)
            executed = await self.repo.execute(
                case_id, ctx, decide, guard=Case.must_exist, conn=conn
            )
        self.runtime.db.appended()
        if purpose == "share_with_authorities":
            # Records already published for them can no longer be opened either. After the
            # commit: the key route refuses the key from then on anyway (it reads the consent).
            people = (
                [cmd.person_id] if cmd.person_id is not None else list(executed.aggregate.people)
            )
            await authorities.delete_disclosure_keys(self.cipher.keys, case_id, people)
        return _answer(executed)

    async def declare_needs(self, case_id: str, cmd: NeedsIn, ctx: CommandContext) -> CommandResult:
        """Record a person's declared needs once their medical consent was given; they rest
        under the person's health key, bound to this case, the person and the field."""

        async def decide(case: Case) -> None:
            case.must_have_medical_consent(cmd.person_id)  # before anything is encrypted
            sealed = await self.cipher.encrypt_for_purpose(
                cmd.person_id,
                list(cmd.declared_needs),
                purpose=HEALTH,
                case_id=case_id,
                field=DECLARED_NEEDS,
            )
            case.declare_needs(
                NeedsDeclared(
                    case_id=case_id,
                    person_id=cmd.person_id,
                    declared_needs=sealed,
                    declared_by=ctx.principal.user_id,
                    declared_at=datetime.now(UTC),
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def request_return(
        self, case_id: str, cmd: ReturnRequestIn, ctx: CommandContext
    ) -> CommandResult:
        async def decide(case: Case) -> None:
            now = datetime.now(UTC)
            # Ages on the day of the request: eligibility rules look at who travels now.
            household = await self._household_on(case, now.date())
            case.request_return(
                ReturnRequested(
                    case_id=case_id,
                    office=case.office,
                    nationality=case.nationality,
                    host_country=case.host_country,
                    destination_country=cmd.destination_country,
                    destination_region=cmd.destination_region,
                    programme_hint=cmd.programme_hint,
                    household=household,
                    requested_at=now,
                    languages=list(case.languages),
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def amend_return_request(
        self, case_id: str, cmd: ReturnAmendmentIn, ctx: CommandContext
    ) -> CommandResult:
        """Another destination or programme before clearance: 409 once intake has seen the
        clearance; a clearance it has not seen yet is settled by eligibility (amendment.py)."""
        await self._refuse_in_phases(
            case_id,
            FIXED_FROM,
            N_(
                "the return was cleared for travel (phase %(phase)s): its destination can no "
                "longer change; the person may withdraw the case and apply again"
            ),
        )

        async def decide(case: Case) -> None:
            case.must_be_active(N_("amend the return request"))
            wanted = {f: getattr(cmd, f) for f in AMENDABLE_FIELDS}
            current = case.destination or {}
            changed = [f for f in AMENDABLE_FIELDS if wanted[f] != current.get(f)]
            if case.destination is not None and not changed:
                raise DomainRuleViolation(
                    wording=worded(N_("the return request already reads so: nothing to amend")),
                    field="destination_country",
                )
            note = await self._sealed_note(_principal_id(case), cmd.note)
            case.amend_return(
                ReturnRequestAmended(
                    case_id=case_id,
                    amendment_id=str(uuid.uuid4()),
                    changed=changed,
                    reason=cmd.reason,
                    note=note,
                    amended_by=ctx.principal.user_id,
                    amended_at=datetime.now(UTC),
                    **wanted,
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def remove_household_member(
        self, case_id: str, cmd: HouseholdRemovalIn, ctx: CommandContext
    ) -> CommandResult:
        """Take a person off the household before departure: 409 once intake has seen the
        departure; a departure it has not seen yet is settled by travel (household_change.py)."""
        await self._refuse_in_phases(
            case_id,
            TRAVELLED_FROM,
            N_("the household has travelled (phase %(phase)s): nobody leaves it any more"),
        )

        async def decide(case: Case) -> None:
            case.must_be_active(N_("remove a household member"))
            case.must_know(cmd.person_id)
            note = await self._sealed_note(cmd.person_id, cmd.note)
            case.remove_member(
                HouseholdMemberRemoved(
                    case_id=case_id,
                    person_id=cmd.person_id,
                    reason=cmd.reason,
                    note=note,
                    household_size=len(case.people) - 1,
                    removed_by=ctx.principal.user_id,
                    removed_at=datetime.now(UTC),
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def add_household_member(
        self, case_id: str, cmd: HouseholdAdditionIn, ctx: CommandContext
    ) -> CommandResult:
        """Bring a person into the household before departure: 409 once intake has seen the
        departure; one it has not seen yet is settled by travel (household_change.py). After
        clearance the clearance lapses, for the household to be cleared again as a whole.
        Once the return was requested, their consent to it comes too."""
        await self._refuse_in_phases(
            case_id,
            TRAVELLED_FROM,
            N_(
                "the household departed (phase %(phase)s): nobody joins it any more; refer "
                "them in a case of their own"
            ),
        )
        person_id = str(uuid.uuid4())
        elsewhere: list[tuple[str, str]] = []

        async def decide(case: Case) -> None:
            nonlocal elsewhere
            case.must_be_active(N_("add a household member"))
            given = set(cmd.consent.purposes) if cmd.consent else set()
            missing = [p for p in REQUIRED_FOR_RETURN if p not in given]
            if case.applied and case.status != "open" and missing:
                raise DomainRuleViolation(
                    wording=worded(
                        N_(
                            "the return was requested: the new member's consent to "
                            "%(purposes)s comes with the addition"
                        ),
                        purposes=", ".join(missing),
                    ),
                    field="consent",
                    missing_consents=missing,
                )
            now = datetime.now(UTC)
            age = age_on(cmd.person.date_of_birth, now.date())
            has_adult = any(p.age_years >= ADULT_AGE for p in case.people.values())
            member, key = await self._referred_person(
                person_id, cmd.person, age, case.nationality, has_adult or age >= ADULT_AGE
            )
            case.add_member(
                HouseholdMemberAdded(
                    case_id=case_id,
                    member=member,
                    reason=cmd.reason,
                    note=await self._sealed_note(person_id, cmd.note),
                    household_size=len(case.people) + 1,
                    added_by=ctx.principal.user_id,
                    added_at=now,
                )
            )
            _, elsewhere = await self._possible_duplicates(
                case, {key: person_id}, ctx.principal, now
            )
            if cmd.consent is not None:
                await self._consent(
                    case, cmd.consent.model_copy(update={"person_id": person_id}), ctx
                )

        executed = await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist)
        for other_case, other_person in elsewhere:
            await self._tell_elsewhere(other_case, other_person, datetime.now(UTC), ctx)
        return _answer(executed, 201, person_id=person_id)

    async def rectify_personal_data(
        self, case_id: str, cmd: RectificationIn, ctx: CommandContext
    ) -> CommandResult:
        """Correct a person's personal data (the right to rectification), with its reason.

        The corrected record and its new duplicate key are encrypted under the person's key;
        the event names the fields that changed, never their old or new values."""

        async def decide(case: Case) -> None:
            person = case.must_know(cmd.person_id)
            if cmd.corrects_the_case and person.relationship != "principal":
                raise DomainRuleViolation(
                    wording=worded(
                        N_(
                            "contact, referrer and current_city are the case's, the "
                            "principal's: rectify them on the principal"
                        )
                    ),
                    field="person_id",
                )
            # Nothing is decrypted (or encrypted: a new key) for a person who was erased.
            recorded = ERASED if case.erased else await self.cipher.decrypt(person.personal)
            if not isinstance(recorded, dict):
                raise DomainRuleViolation(
                    wording=worded(N_("cannot rectify: the person's personal data was erased"))
                )
            record, changed = cmd.corrected(recorded)
            if cmd.sex is not None and cmd.sex != person.sex:
                changed.append("sex")
            of_case = await self._corrected_case_data(case, cmd)
            changed += list(of_case)
            if not changed:
                raise DomainRuleViolation(
                    wording=worded(
                        N_("the values given are the ones recorded: nothing to rectify")
                    ),
                    field="person_id",
                )
            now = datetime.now(UTC)
            born = date.fromisoformat(record["date_of_birth"])
            name = f"{record['given_names']} {record['family_name']}"
            key = duplicate_key(self.secret, name, born, case.nationality)
            household: list[HouseholdMember] = []
            if any(f in HOUSEHOLD_FACTS for f in changed):
                household = await self._household_on(
                    case, now.date(), {cmd.person_id: (record, cmd.sex or person.sex)}
                )
            case.rectify(
                PersonalDataRectified(
                    case_id=case_id,
                    person_id=cmd.person_id,
                    fields=sorted(changed, key=RECTIFIABLE_FIELDS.index),
                    personal=await self.cipher.encrypt(cmd.person_id, record),
                    duplicate_key=await self.cipher.encrypt(cmd.person_id, key),
                    age_years=age_on(born, now.date()) if "date_of_birth" in changed else None,
                    sex=cmd.sex if "sex" in changed else None,
                    contact=of_case.get("contact"),
                    referrer=of_case.get("referrer"),
                    referring_organisation=cmd.referrer.organisation if cmd.referrer else None,
                    current_city=of_case.get("current_city"),
                    reason=cmd.reason,
                    note=await self._sealed_note(cmd.person_id, cmd.note),
                    rectified_by=ctx.principal.user_id,
                    rectified_at=now,
                ),
                household,
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist), 201)

    async def _corrected_case_data(
        self, case: Case, cmd: RectificationIn
    ) -> dict[RectifiableField, Encrypted]:
        """The case's data (the principal's: ``cmd.person_id`` is the principal) that
        ``cmd`` changes, each as it should now read, sealed under the principal's key as
        the referral sealed it. A contact or a referrer is corrected, not added: 422 where
        the referral recorded none (a self-referral names no referrer)."""
        wanted: dict[RectifiableField, Any] = {}
        if cmd.contact is not None:
            if case.contact is None:
                raise DomainRuleViolation(
                    wording=worded(N_("the referral recorded no contact details to rectify")),
                    field="contact",
                )
            wanted["contact"] = (case.contact, cmd.contact.model_dump(exclude_none=True))
        if cmd.referrer is not None:
            if case.referrer is None:
                raise DomainRuleViolation(
                    wording=worded(N_("the referral named no referrer to rectify")),
                    field="referrer",
                )
            wanted["referrer"] = (
                case.referrer,
                {"name": cmd.referrer.name, "contact": cmd.referrer.contact},
            )
        if cmd.current_city is not None:
            wanted["current_city"] = (case.current_city, cmd.current_city)
        sealed: dict[RectifiableField, Encrypted] = {}
        for name, (stored, value) in wanted.items():
            # (a city of an event written before it was encrypted is plaintext)
            recorded = (
                await self.cipher.decrypt(stored) if isinstance(stored, Encrypted) else stored
            )
            organisation_changed = (
                name == "referrer"
                and cmd.referrer is not None
                and cmd.referrer.organisation != case.referring_organisation
            )
            if recorded != value or organisation_changed:
                sealed[name] = await self.cipher.encrypt(cmd.person_id, value)
        return sealed

    async def _household_on(
        self,
        case: Case,
        day: date,
        corrected: dict[str, tuple[dict[str, Any], Sex]] | None = None,
    ) -> list[HouseholdMember]:
        """The household's non-personal facts on ``day`` (ReturnRequested's): each age from
        the date of birth recorded (the age on record for a person erased), ``corrected``
        (person id -> record and sex, a rectification's before it is recorded) overriding
        the case's."""
        facts: list[tuple[Person, int, Sex]] = []
        for person in case.people.values():
            record, sex = (corrected or {}).get(person.person_id, (None, person.sex))
            personal = record or await self.cipher.decrypt(person.personal)
            born = None if personal is ERASED else personal.get("date_of_birth")
            age = age_on(date.fromisoformat(born), day) if born else person.age_years
            facts.append((person, age, sex))
        has_adult = any(age >= ADULT_AGE for _p, age, _s in facts)
        return [
            HouseholdMember(
                person_id=p.person_id,
                age_years=age,
                sex=sex,
                relationship=p.relationship,
                unaccompanied_minor=age < ADULT_AGE and not has_adult,
            )
            for p, age, sex in facts
        ]

    async def withdraw_case(
        self, case_id: str, cmd: WithdrawalIn, ctx: CommandContext
    ) -> CommandResult:
        async def decide(case: Case) -> None:
            principal = _principal_id(case)
            note = await self._sealed_note(principal, cmd.note)
            case.withdraw(
                CaseWithdrawn(
                    case_id=case_id,
                    reason=cmd.reason,
                    note=note,
                    withdrawn_at=datetime.now(UTC),
                    withdrawn_by=ctx.principal.user_id,
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist))

    async def close_case(self, case_id: str, cmd: ClosureIn, ctx: CommandContext) -> CommandResult:
        async def decide(case: Case) -> None:
            case.must_be_active(N_("close the case"))
            note = await self._sealed_note(_principal_id(case), cmd.note)
            case.close(
                CaseClosed(
                    case_id=case_id,
                    reason=cmd.reason,
                    closed_at=datetime.now(UTC),
                    note=note,
                    closed_by=ctx.principal.user_id,
                )
            )

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist))

    async def reopen_case(
        self, case_id: str, cmd: ReopeningIn, ctx: CommandContext
    ) -> CommandResult:
        """Take a withdrawn or closed case up again, on its own stream, with the returning
        person's consent given again (the consents of before lapsed with the case)."""

        async def decide(case: Case) -> None:
            previous = case.reopenable()
            case.must_know(cmd.consent.person_id)
            principal = _principal_id(case)
            # Refused while an erasure is shredding the people: nothing is sealed under a
            # key made anew for someone erased a moment ago.
            if await self.cipher.decrypt(case.people[principal].personal) is ERASED:
                raise DomainRuleViolation(
                    wording=worded(N_("cannot reopen the case: its personal data was erased")),
                    case_status=previous,
                )
            note = await self._sealed_note(principal, cmd.note)
            case.reopen(
                CaseReopened(
                    case_id=case_id,
                    previous_status=previous,
                    resumes_return=case.applied,
                    reason=cmd.reason,
                    note=note,
                    recorded_by=ctx.principal.user_id,
                    reopened_at=datetime.now(UTC),
                )
            )
            await self._consent(case, cmd.consent, ctx)

        try:
            return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist))
        except ConcurrencyError:
            # Lost the race to an erasure that deleted the keys while this one sealed the
            # note or consent: a key the sealing made anew for an erased person goes too.
            case = await self.repo.load(case_id)
            if case.erased:
                for person_id in case.people:
                    await self.cipher.erase(person_id)
            raise

    # ------------------------------------------------------------ transfers --

    async def request_transfer(
        self, case_id: str, cmd: TransferRequestIn, ctx: CommandContext
    ) -> CommandResult:
        """The office holding the case asks ``cmd.to_office`` to take it over (7 days to answer)."""
        office = self.runtime.offices.get(cmd.to_office)
        if office is None or office.kind not in RECEIVING_KINDS:
            raise DomainRuleViolation(
                wording=worded(
                    N_("office %(office)s is not a host or receiving office of the registry"),
                    office=cmd.to_office,
                ),
                field="to_office",
            )
        transfer_id = str(uuid.uuid4())

        def holder(case: Case) -> None:
            case.must_exist()
            if not may_see(ctx.principal, (case.office,)):
                raise Forbidden(
                    wording=worded(
                        N_("only the office holding the case (%(office)s) transfers it"),
                        office=case.office,
                    )
                )

        async def decide(case: Case) -> None:
            now = datetime.now(UTC)
            note = None if case.erased else await self._sealed_note(_principal_id(case), cmd.note)
            case.request_transfer(
                TransferRequested(
                    case_id=case_id,
                    transfer_id=transfer_id,
                    from_office=case.office,
                    to_office=cmd.to_office,
                    reason=cmd.reason,
                    note=note,
                    recorded_by=ctx.principal.user_id,
                    requested_at=now,
                    expires_at=deadline(now),
                )
            )

        executed = await self.repo.execute(case_id, ctx, decide, guard=holder)
        return _answer(executed, 201, transfer_id=transfer_id)

    async def answer_transfer(
        self,
        case_id: str,
        transfer_id: str,
        cmd: TransferAcceptanceIn | TransferRejectionIn,
        ctx: CommandContext,
    ) -> CommandResult:
        """The receiving office accepts (``TransferAcceptanceIn``) or rejects the request."""

        def party(case: Case) -> None:
            # Another office learns nothing of the case or its transfers: 403 whatever it asks.
            case.must_exist()
            if not may_see(ctx.principal, case.transfer_parties | {case.office}):
                raise Forbidden(
                    wording=worded(N_("this case and its transfers belong to offices not yours"))
                )

        async def decide(case: Case) -> None:
            now = datetime.now(UTC)
            pending = case.transfer
            if pending is not None and pending.transfer_id == transfer_id:
                ensure_receiving_office(ctx.principal, pending.to_office)
            by = ctx.principal.user_id
            sides = {
                "case_id": case_id,
                "transfer_id": transfer_id,
                "from_office": pending.from_office if pending else case.office,
                "to_office": pending.to_office if pending else case.office,
            }
            note = (
                await self._sealed_note(_principal_id(case), cmd.note)
                if pending is not None and not case.erased
                else None
            )
            answer: TransferAccepted | TransferRejected = (
                TransferRejected(
                    **sides, reason=cmd.reason, note=note, recorded_by=by, rejected_at=now
                )
                if isinstance(cmd, TransferRejectionIn)
                else TransferAccepted(**sides, note=note, recorded_by=by, accepted_at=now)
            )
            case.answer_transfer(answer, now)

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=party))

    async def expire_transfer(
        self, case_id: str, transfer_id: str, at: datetime, ctx: CommandContext
    ) -> CommandResult:
        """Record that ``transfer_id`` lapsed unanswered (the expiry job, transfer.py)."""
        executed = await self.repo.execute(
            case_id, ctx, lambda case: case.expire_transfer(transfer_id, at), guard=Case.must_exist
        )
        return _answer(executed)

    async def erase_personal_data(
        self, case_id: str, ctx: CommandContext, *, reason: ErasureReason = "requested"
    ) -> CommandResult:
        """Crypto-shred every person of the case, then record that it happened.

        Keys go first: if appending the event then fails, the data is already
        unreadable and a retry records the event.
        """

        async def decide(case: Case) -> None:
            case.erase(
                PersonalDataErased(
                    case_id=case_id,
                    person_ids=[*case.people, *case.removed],
                    erased_at=datetime.now(UTC),
                    erased_by=ctx.principal.user_id,
                    reason=reason,
                )
            )
            for person_id in [*case.people, *case.removed]:
                await self.cipher.erase(person_id)
            # What the public records sealed for them (authorities.py) is shredded with them.
            await authorities.delete_disclosure_keys(self.cipher.keys, case_id, case.people)

        return _answer(await self.repo.execute(case_id, ctx, decide, guard=Case.must_exist))

    async def _refuse_in_phases(self, case_id: str, phases: Collection[str], why: str) -> None:
        """409 (naming the phase) when intake has already seen the case reach one of
        ``phases``: a change that another service settles after that point (amendment.py,
        household_change.py) is refused here before anything is decided. ``why`` is an
        ``N_``-marked sentence naming ``%(phase)s``, worded in the reader's language."""
        async with self.runtime.db.autocommit() as conn:
            phase = await reports.phase_of(conn, case_id)
        if phase in phases:
            raise Conflict(wording=worded(why, phase=phase), case_phase=phase)

    async def _sealed_note(self, person_id: str, note: str | None) -> Encrypted | None:
        """A free-text note of a command, sealed under ``person_id``'s key (none without one)."""
        return await self.cipher.encrypt(person_id, note) if note else None


def person_key(secret: bytes, person: PersonIn, nationality: str) -> str:
    """A referred person's duplicate key: of their full name, birth date and nationality."""
    return duplicate_key(
        secret, f"{person.given_names} {person.family_name}", person.date_of_birth, nationality
    )


def new_case_id() -> str:
    """The id of a case a referral opens."""
    return str(uuid.uuid4())


def _answer(executed: Executed[Case], code: int = 200, **extra: Any) -> CommandResult:
    """What every intake command answers: the case id, its new version (the ETag), the event
    types written, and ``extra`` (in that order, as the API always answered)."""
    case = executed.aggregate
    body = {"case_id": case.id, "version": case.version, "events": executed.events, **extra}
    return CommandResult(case.version, body, code)


def _principal_id(case: Case) -> str:
    return next(p.person_id for p in case.people.values() if p.relationship == "principal")
