"""People search over encrypted data: keyed blind indexes of names, birth dates, documents, phones.

Names, dates of birth, document numbers and phone numbers rest encrypted per
person (avrr_events.personal), so the database cannot compare them. This read
model keeps, for every person of every case, keyed tokens of them instead
(``intake_search_tokens``, one row per token, under a number per person that
``intake_search_people`` maps to their case and person id):

- a row per name word, looked up by the word's loosest code (its consonant
  skeleton, spelling.skeleton, else its sound), carrying the tokens of the word
  as normalised (spelling.normalised_words: case, accents, particles and
  compound names do not matter) and of its sound in Spanish or Portuguese
  (spelling.phonetic: b/v, ll/y, z/s/c, silent h ...), which score the match;
- a row per two name words (``pair``), which lets a search for "María García"
  read the people with both words, not everyone named María;
- ``date_of_birth``, ``document`` (letters and digits), ``phone`` (its last 8
  digits; the principal's, when they consented to share their contact, and only
  while they have not withdrawn their consent to be contacted by the programme).

A token is HMAC-SHA256 of its kind and the normalised value under the search
key, which HKDF (RFC 5869) derives from intake's secret
(``AVRR_INTAKE_DUPLICATE_SECRET``, kept in the service's secrets, never in the
database) with an info label of its own, so it is neither the duplicate
check's key nor the disclosure ids'. Without the key a token cannot be
recomputed from a guessed name, and no table holds a name, a date or a number
in plaintext or under an unkeyed hash. Tokens are cut to 64 bits: two
different values share a token with odds of about one in 10^13 per lookup at a
million distinct values (the birthday bound), far below the false matches the
spelling rules make on purpose, and an index of 16 characters is a quarter of
a full digest's. What a blind index does show to whoever reads the table is
equality: how many people share a word or a birth date, which is why only
this service's own connection reads it.

A search (``POST /people/search``, terms in the body: never in a URL, so never
in access logs, traces or proxies) computes the same tokens from the terms and
ranks the people that match every field given (every word of the name, at
least by its skeleton): an exact word counts 3, a phonetic one 2, a skeleton
1, the date of birth 4, the phone 6, the document 8. It first reads the people
its rarest criterion names (a document, a phone, a birth date, a pair of name
words), then only their rows: p99 is a few milliseconds of the database's
time over 100,000 people (benchmarks/search.py, docs/benchmarks.md). It sees
the cases of the caller's offices only (and those handed over to them), and
every search is audited: the fields used and the case ids returned, never the
terms.

Rows are written when a referral arrives (``ReferralReceived``) and when a
person joins the household later (``HouseholdMemberAdded``: the same rows, by
the same code), replaced when a person's data is corrected
(``PersonalDataRectified``: the events that carry names, birth dates, documents
and, corrected on the principal, the contact's phone) and deleted with the
person (``PersonalDataErased``, which shreds everyone the case ever had). A
person who leaves the household (``HouseholdMemberRemoved``, or an addition
reversed: ``HouseholdAdditionReversed``) is no longer found under the case,
whose file lists them among its removed members: their rows go, and come back
from the case file's record if the removal is refused after the departure
(``HouseholdMemberRestored``). A rebuild decrypts the referrals again, so people
erased meanwhile get no rows; and a search checks that the keys of the people
it found still exist before answering, so a person whose erasure committed is
never returned, even while this read model has not caught up with the erasure
yet.

The phone is the only key that depends on a consent (names, birth dates and
documents are the case file's, which casework needs whatever was consented to
besides the return): the principal's ``contact_by_programme`` withdrawn
(``ConsentWithdrawn``), their phone row goes; given again (``ConsentGiven``),
it comes back from the case's contact as it now reads; a corrected contact of a
principal who withdrew it is not indexed. And as for an erasure, a search by
phone checks the contact consent of the people it found as the case's stream
has it now (the case file's contact rule: the consent rows, then the case's
events the read model has not applied yet, none once it caught up) and leaves
out those who withdrew it: a search after the withdrawal's answer never finds
them by their phone, even while this read model catches up."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, Literal, Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import AfterValidator, ConfigDict, Field, model_validator
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    MetaData,
    String,
    Table,
    case,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import ERASED, Encrypted, Envelope, PersonalDataCipher, Projection, Repository
from avrr_events.commands import Principal
from avrr_events.projections import case_row
from avrr_events.tables import case_table
from avrr_events.validation import InvalidValue
from avrr_events.web.authorization import visible_offices
from avrr_events.web.service import ServiceRuntime
from avrr_intake import case_list, handover, read_models, spelling
from avrr_intake.case import Case, PersonalDataErased
from avrr_intake.commands import Input
from avrr_intake.consent import CONTACT_BY_PROGRAMME, ConsentGiven, ConsentWithdrawn
from avrr_intake.household_change import (
    HouseholdAdditionReversed,
    HouseholdMemberAdded,
    HouseholdMemberRemoved,
    HouseholdMemberRestored,
)
from avrr_intake.notices import N_, worded
from avrr_intake.rectification import PersonalDataRectified
from avrr_intake.referral import ReferralReceived, ReferredPerson

FieldKind = Literal["date_of_birth", "document", "phone"]
Kind = Literal["name", "pair"] | FieldKind
Code = Literal["word", "sound", "skeleton", "pair"] | FieldKind

TOKEN_CHARS: Final = 16  # 64 bits in hex (see the module docstring for why)
SEARCH_KEY_INFO: Final = b"avrr/intake-people-search-index"
# What a criterion adds to a person's score: a name word by how closely it matched.
EXACT, SOUND, SKELETON = 3, 2, 1
WEIGHTS: Final[dict[FieldKind, int]] = {"date_of_birth": 4, "phone": 6, "document": 8}
# The fewest people share a document number, then a phone, a birth date, two name words,
# one name word: a search reads first the people its rarest criterion names (``_driver``).
RARITY: Final[tuple[Kind, ...]] = ("document", "phone", "date_of_birth", "pair", "name")

metadata = MetaData()

# Every person indexed, under a number of their own: the token rows carry the number, not
# two 36-character ids, so that the index of 100,000 people stays in the database's memory.
indexed_people = case_table(
    "intake_search_people",
    metadata,
    Column("person_id", String(100), primary_key=True),
    Column("number", BigInteger, nullable=False, unique=True),
)
# One row per person and name word, date of birth, document or phone. ``token`` is what a
# search looks up: for a name word its loosest code (skeleton, else sound), which every
# closer match shares; ``exact`` and ``sound`` say how closely a row found that way matched.
search_tokens = Table(
    "intake_search_tokens",
    metadata,
    Column("number", BigInteger, primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("token", String(TOKEN_CHARS), primary_key=True),
    Column("exact", String(TOKEN_CHARS), nullable=True),
    Column("sound", String(TOKEN_CHARS), nullable=True),
)
Index("intake_search_tokens_token_idx", search_tokens.c.token, search_tokens.c.number)


def person_number(person_id: str) -> int:
    """A person's number in the index: 63 bits of SHA-256 of their id (a random UUID, no
    personal data), so that a rebuild gives everyone the same number again and no sequence
    is needed; two of a million people share one with odds of about 1 in 10^7."""
    return int.from_bytes(hashlib.sha256(person_id.encode()).digest()[:8], "big") >> 1


class SearchKey:
    """Blind-index tokens under a key derived from intake's secret (HKDF-SHA256, own label)."""

    def __init__(self, secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=SEARCH_KEY_INFO
        ).derive(secret)

    def token(self, code: Code, value: str) -> str:
        """HMAC-SHA256 of the code's name and the normalised value, cut to ``TOKEN_CHARS``:
        the name is part of the message, so a word and a sound spelt alike differ."""
        message = code.encode() + b"\x1f" + value.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:TOKEN_CHARS]

    def pair(self, one: str, other: str) -> str:
        """The token of two name words' rows together: María García is far rarer than
        María or García, so a search for a name reads their people only."""
        return self.token("pair", "".join(sorted((one, other))))

    def word(self, word: str) -> Row:
        """The row of one normalised name word: looked up by its loosest code."""
        sound = spelling.phonetic(word)
        bones = spelling.skeleton(word)
        loosest = self.token("sound", sound) if bones is None else self.token("skeleton", bones)
        return Row("name", loosest, self.token("word", word), self.token("sound", sound))


@dataclass(frozen=True, order=True)
class Row:
    """A person's row in the index (or what a search looks for): no value, only tokens."""

    kind: Kind
    token: str
    exact: str | None = None
    sound: str | None = None


@dataclass(frozen=True)
class Terms:
    """What a person is found by, normalised: a person's as recorded, or a search's."""

    words: tuple[str, ...] = ()
    date_of_birth: str | None = None
    document: str | None = None
    phone: str | None = None

    @classmethod
    def of_person(cls, personal: dict[str, Any], phone: str | None) -> Terms:
        """The terms of a referred person (their decrypted ``personal`` value)."""
        name = f"{personal.get('given_names', '')} {personal.get('family_name', '')}"
        document = (personal.get("document") or {}).get("number")
        normalised_phone = spelling.phone_number(phone) if phone else ""
        normalised_document = spelling.document_number(document) if document else ""
        return cls(
            words=tuple(spelling.normalised_words(name)),
            date_of_birth=personal.get("date_of_birth"),
            document=normalised_document or None,
            phone=normalised_phone if len(normalised_phone) == spelling.PHONE_DIGITS else None,
        )

    def rows(self, key: SearchKey) -> list[Row]:
        """A person's rows in the index: their criteria, and a pair row for every two of
        their name words (``driver``)."""
        criteria = self.criteria(key)
        names = sorted({r.token for r in criteria if r.kind == "name"})
        pairs = [key.pair(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        return criteria + [Row("pair", token) for token in pairs]

    def criteria(self, key: SearchKey) -> list[Row]:
        """The rows a search for these terms needs, one per token looked up: two words that
        sound alike ("Garcia Garsia") are one criterion, the first one's."""
        rows: dict[str, Row] = {}
        for word in self.words:
            row = key.word(word)
            rows.setdefault(row.token, row)
        fields: list[tuple[FieldKind, str | None]] = [
            ("date_of_birth", self.date_of_birth),
            ("document", self.document),
            ("phone", self.phone),
        ]
        for kind, value in fields:
            if value:
                token = key.token(kind, value)
                rows.setdefault(token, Row(kind, token))
        return list(rows.values())


# ------------------------------------------------------------------ the index --

# A person to index: their id, relationship and sealed personal data (an event's
# ``ReferredPerson`` or the case file's member, which keeps the same three).
Listed = tuple[str, str, Any]


def _listed(person: ReferredPerson) -> Listed:
    return person.person_id, person.relationship, person.personal


class PeopleIndex(Projection):
    """The tokens of every person of every case; gone with the person (``PersonalDataErased``)."""

    name = "intake_people_search"
    metadata = metadata

    def __init__(self, cipher: PersonalDataCipher, key: SearchKey) -> None:
        # The referral's values ride in the event encrypted per person: the projection
        # decrypts them to index them (and finds nothing once the person is erased).
        self.cipher = cipher
        self.key = key

    async def _referral(
        self, conn: AsyncConnection, event: ReferralReceived, envelope: Envelope
    ) -> None:
        """The household of the referral; the principal with the case's phone."""
        people = [_listed(p) for p in event.household]
        await self._index(conn, event.case_id, people, event.contact)

    async def _added(
        self, conn: AsyncConnection, event: HouseholdMemberAdded, envelope: Envelope
    ) -> None:
        """A person who joined the household later is found as its first members are."""
        await self._index(conn, event.case_id, [_listed(event.member)])

    async def _left(
        self,
        conn: AsyncConnection,
        event: HouseholdMemberRemoved | HouseholdAdditionReversed,
        envelope: Envelope,
    ) -> None:
        """A person off the household is no longer found under the case: the case file
        moves them to its removed members, which a search does not show (their data stays
        under their key, shredded with the case's)."""
        await _forget(conn, event.person_id)

    async def _restored(
        self, conn: AsyncConnection, event: HouseholdMemberRestored, envelope: Envelope
    ) -> None:
        """A removal refused after the departure: the person is found again, from their
        record as the case file keeps it (rectified or not; never the principal, so no
        phone). A rebuild reads the file as it is now, so their record is looked for among
        the removed members too."""
        row = await case_row(conn, read_models.cases, event.case_id)
        if row is None:
            return
        everyone = [*row.detail.get("household", []), *row.detail.get("removed_members", [])]
        member = next((m for m in everyone if m["person_id"] == event.person_id), None)
        if member is None:
            return
        await _forget(conn, event.person_id)
        listed = (member["person_id"], member["relationship"], member["personal"])
        await self._index(conn, event.case_id, [listed])

    async def _index(
        self,
        conn: AsyncConnection,
        case_id: str,
        household: Sequence[Listed],
        contact: Encrypted | None = None,
    ) -> None:
        """Write the rows of these people of the case (the principal's phone from
        ``contact``); those whose key is gone are not indexed. One query for all their
        keys (reveal), as the case file does."""
        sealed = [personal for _, _, personal in household]
        personal, phone_of = await self.cipher.reveal([sealed, contact], erased=ERASED)
        phone = phone_of.get("phone") if isinstance(phone_of, dict) else None
        people, rows = [], []
        for (person_id, relationship, _), values in zip(household, personal, strict=True):
            if values is ERASED:
                continue
            number = person_number(person_id)
            people.append({"case_id": case_id, "person_id": person_id, "number": number})
            is_principal = relationship == "principal"
            terms = Terms.of_person(values, phone if is_principal else None)
            rows += [{"number": number, **vars(row)} for row in terms.rows(self.key)]
        if people:
            await conn.execute(indexed_people.insert(), people)
            await conn.execute(search_tokens.insert(), rows)

    async def _erased(
        self, conn: AsyncConnection, event: PersonalDataErased, envelope: Envelope
    ) -> None:
        p = indexed_people.c
        numbers = select(p.number).where(p.case_id == event.case_id)
        await conn.execute(search_tokens.delete().where(search_tokens.c.number.in_(numbers)))
        await conn.execute(indexed_people.delete().where(p.case_id == event.case_id))

    async def _rectified(
        self, conn: AsyncConnection, event: PersonalDataRectified, envelope: Envelope
    ) -> None:
        """The person's corrected record replaces what the referral said: found under the new
        spelling, no longer the old. Their phone (the case's contact, the principal's) is
        replaced when the contact was corrected, and stays otherwise."""
        number = person_number(event.person_id)
        t = search_tokens.c
        kept = () if event.contact is not None else ("phone",)
        await conn.execute(search_tokens.delete().where(t.number == number, t.kind.not_in(kept)))
        withheld = event.contact is not None and await _contact_withdrawn(
            conn, event.case_id, event.person_id
        )
        sealed = None if withheld else event.contact
        personal, contact = await self.cipher.reveal([event.personal, sealed], erased=ERASED)
        if personal is ERASED:
            return
        p = indexed_people.c
        if await conn.scalar(select(p.number).where(p.number == number)) is None:
            await conn.execute(
                indexed_people.insert().values(
                    case_id=event.case_id, person_id=event.person_id, number=number
                )
            )
        phone = contact.get("phone") if isinstance(contact, dict) else None
        rows = Terms.of_person(personal, phone).rows(self.key)
        await conn.execute(search_tokens.insert(), [{"number": number, **vars(r)} for r in rows])

    async def _contact_withdrawn(
        self, conn: AsyncConnection, event: ConsentWithdrawn, envelope: Envelope
    ) -> None:
        """Not to be contacted: the phone is no search key any more (only the principal has
        one; a withdrawal for the whole household is the principal's too)."""
        if event.purpose != CONTACT_BY_PROGRAMME:
            return
        p, t = indexed_people.c, search_tokens.c
        people = p.case_id == event.case_id
        if event.person_id is not None:
            people = people & (p.person_id == event.person_id)
        numbers = select(p.number).where(people)
        await conn.execute(search_tokens.delete().where(t.number.in_(numbers), t.kind == "phone"))

    async def _contact_given(
        self, conn: AsyncConnection, event: ConsentGiven, envelope: Envelope
    ) -> None:
        """Contact consented to (again): the principal's phone, from the case's contact as it
        reads now (the case file's, rectified or not), is a search key again."""
        if event.purpose != CONTACT_BY_PROGRAMME:
            return
        row = await case_row(conn, read_models.cases, event.case_id)
        member = None if row is None else _member(row.detail, event.person_id)
        if member is None or member["relationship"] != "principal":
            return
        number = person_number(event.person_id)
        p, t = indexed_people.c, search_tokens.c
        if await conn.scalar(select(p.number).where(p.number == number)) is None:
            return  # erased (or never indexed): nothing to find them by
        await conn.execute(search_tokens.delete().where(t.number == number, t.kind == "phone"))
        contact = await self.cipher.reveal(row.detail.get("contact"), erased=ERASED)
        phone = contact.get("phone") if isinstance(contact, dict) else None
        rows = [r for r in Terms.of_person({}, phone).rows(self.key) if r.kind == "phone"]
        if rows:
            phone_rows = [{"number": number, **vars(r)} for r in rows]
            await conn.execute(search_tokens.insert(), phone_rows)

    handlers = {
        ReferralReceived: _referral,
        HouseholdMemberAdded: _added,
        HouseholdMemberRemoved: _left,
        HouseholdAdditionReversed: _left,
        HouseholdMemberRestored: _restored,
        PersonalDataRectified: _rectified,
        PersonalDataErased: _erased,
        ConsentWithdrawn: _contact_withdrawn,
        ConsentGiven: _contact_given,
    }


async def _forget(conn: AsyncConnection, person_id: str) -> None:
    """Delete one person's rows from the index."""
    number = person_number(person_id)
    await conn.execute(search_tokens.delete().where(search_tokens.c.number == number))
    await conn.execute(indexed_people.delete().where(indexed_people.c.number == number))


async def _contact_withdrawn(conn: AsyncConnection, case_id: str, person_id: str) -> bool:
    """Whether the person's consent to be contacted stands withdrawn (the case file's
    consents, which the projection before this one has written for the same events)."""
    c = read_models.consents.c
    status = await conn.scalar(
        select(c.status).where(
            c.case_id == case_id, c.person_id == person_id, c.purpose == CONTACT_BY_PROGRAMME
        )
    )
    return bool(status == "withdrawn")


# ------------------------------------------------------------------ the query --


def _enough_document(number: str) -> str:
    if len(spelling.document_number(number)) < spelling.MIN_DOCUMENT:
        raise InvalidValue(
            worded(N_("give at least %(least)s letters or digits"), least=spelling.MIN_DOCUMENT)
        )
    return number


def _enough_phone(number: str) -> str:
    if len(spelling.phone_number(number)) < spelling.PHONE_DIGITS:
        raise InvalidValue(
            worded(N_("give at least %(least)s digits"), least=spelling.PHONE_DIGITS)
        )
    return number


# Each rule the validators enforce is in the OpenAPI as a pattern (what JSON Schema can
# say: two letters in a row, four letters or digits, eight digits). A name whose letters
# normalise to no word (two fractions, "½½") is accepted and matches no one.
SearchName = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"[^\W\d_]{2}",
        description="given names and/or family names, in any order, case, accents or spelling "
        "variant (García-López, garcia lopez, Garsía); every word of two letters or more "
        "must match",
    ),
]
SearchDocument = Annotated[
    str,
    Field(
        max_length=50,
        pattern="^[^0-9A-Za-z]*([0-9A-Za-z][^0-9A-Za-z]*){4,}$",
        description="a document number, with or without spaces and dashes",
    ),
    AfterValidator(_enough_document),
]
SearchPhone = Annotated[
    str,
    Field(
        max_length=50,
        pattern="^[^0-9]*([0-9][^0-9]*){8,}$",
        description="with or without country code: its last 8 digits are compared",
    ),
    AfterValidator(_enough_phone),
]
SEARCH_FIELDS: Final = ("name", "date_of_birth", "document_number", "phone")


class PeopleSearchIn(Input):
    """What to look for: any of these, together (a person must match every one given)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # Patterns read as Python reads them: as the OpenAPI's readers (and its fuzzer) do,
        # with Unicode letters in \w ("[^\W\d_]" is a letter of any script).
        regex_engine="python-re",
        # At least one field, not null (what ``_something`` checks), as JSON Schema says it.
        json_schema_extra={
            "anyOf": [
                {"required": [f], "properties": {f: {"not": {"type": "null"}}}}
                for f in SEARCH_FIELDS
            ]
        },
    )

    name: SearchName | None = None
    date_of_birth: date | None = None
    document_number: SearchDocument | None = None
    phone: SearchPhone | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.fields():
            raise InvalidValue(
                worded(N_("give at least one of %(fields)s"), fields=", ".join(SEARCH_FIELDS))
            )
        return self

    def fields(self) -> list[str]:
        """The fields this search uses (what its audit entries say, never their values)."""
        return [f for f in SEARCH_FIELDS if getattr(self, f) is not None]

    def terms(self) -> Terms:
        """The terms normalised as a person's are (``Terms.of_person``)."""
        document = self.document_number
        return Terms(
            words=tuple(spelling.normalised_words(self.name)) if self.name else (),
            date_of_birth=self.date_of_birth.isoformat() if self.date_of_birth else None,
            document=spelling.document_number(document) if document else None,
            phone=spelling.phone_number(self.phone) if self.phone else None,
        )


@dataclass(frozen=True)
class Match:
    """One person found (they matched every term given), and their score."""

    case_id: str
    person_id: str
    score: int


async def find_people(
    conn: AsyncConnection,
    key: SearchKey,
    terms: Terms,
    *,
    visible: ColumnElement[bool] | None,
    office: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Match], int]:
    """A page of the people matching every term (best score first), and how many match.

    ``visible`` is the caller's office scope (handover.belongs_to; None: every office).
    One indexed read of the rows of the terms' tokens, grouped by person: found when
    each token is theirs; scored by how closely each word matched and which fields did.
    """
    wanted = terms.criteria(key)
    if not wanted:
        return [], 0
    t, p, c = search_tokens.c, indexed_people.c, read_models.cases.c
    exact = [r.exact for r in wanted if r.exact]
    sound = [r.sound for r in wanted if r.sound]
    weight = case(
        (t.exact.in_(exact), EXACT),
        (t.sound.in_(sound), SOUND),
        (t.kind == "name", SKELETON),
        *((t.kind == kind, points) for kind, points in WEIGHTS.items()),
        else_=0,
    )
    score = func.sum(weight).label("score")
    matching = [t.token.in_([r.token for r in wanted])]
    driver = _driver(key, wanted)
    if driver is not None:
        # Read the rows of the few people the rarest criterion names (a document, a phone,
        # a birth date, two words of the name), not those of everyone named María.
        d = search_tokens.alias("driver")
        matching.append(t.number.in_(select(d.c.number).where(d.c.token == driver)))
    scores = (
        select(t.number, score)
        .where(*matching)
        .group_by(t.number)
        .having(func.count() == len(wanted))  # one row per token and person (primary key)
        .subquery()
    )
    # Scoped after the grouping: the offices' condition is read for the people found only.
    where: list[ColumnElement[bool]] = []
    if visible is not None:
        where.append(visible)
    if office is not None:
        where.append(c.office == office)
    found = select(p.case_id, p.person_id, scores.c.score, func.count().over().label("total"))
    joined = scores.join(indexed_people, p.number == scores.c.number)
    if where:
        joined = joined.join(read_models.cases, c.case_id == p.case_id)
    found = found.select_from(joined).where(*where)
    ranked = found.order_by(scores.c.score.desc(), p.case_id, p.person_id)
    rows = (await conn.execute(ranked.limit(limit).offset(offset))).all()
    if rows:
        total = int(rows[0].total)
    elif offset:  # past the last page: count them
        total = int(await conn.scalar(select(func.count()).select_from(found.subquery())) or 0)
    else:
        total = 0
    return [Match(r.case_id, r.person_id, int(r.score)) for r in rows], total


def _driver(key: SearchKey, wanted: Sequence[Row]) -> str | None:
    """The token that names the fewest people (``RARITY``): a field's, else the pair of the
    first and the last name word (a given name and a family name: rarely together by
    chance, while two given names often are); None for a one-word name."""
    fields = [r for r in wanted if r.kind != "name"]
    if fields:
        return min(fields, key=lambda r: RARITY.index(r.kind)).token
    if len(wanted) < 2:
        return None
    return key.pair(wanted[0].token, wanted[-1].token)


async def search_people(
    runtime: ServiceRuntime,
    principal: Principal,
    body: PeopleSearchIn,
    *,
    key: SearchKey,
    office: str | None,
    limit: int,
    offset: int,
    client: str | None,
) -> dict[str, Any]:
    """The route's answer: the page of people found, each with their case and decrypted
    name and date of birth; people whose keys are gone (erased meanwhile) are left out."""
    offices = visible_offices(principal)
    async with runtime.db.autocommit() as conn:
        matches, total = await find_people(
            conn,
            key,
            body.terms(),
            visible=None if offices is None else handover.belongs_to(offices),
            office=office,
            limit=limit,
            offset=offset,
        )
        case_rows = await _cases(conn, {m.case_id for m in matches})
        page = len(matches)
        if body.phone is not None:
            matches = await _contact_allowed(conn, runtime.commands.repo, matches)
    items = await _shown(runtime.cipher, matches, case_rows)
    await _audit(runtime, principal, body.fields(), [i["case_id"] for i in items], client)
    return {
        "items": items,
        "total": total - (page - len(items)),
        "limit": limit,
        "offset": offset,
    }


async def _contact_allowed(
    conn: AsyncConnection, repo: Repository[Case], matches: Sequence[Match]
) -> list[Match]:
    """The people found by their phone whose consent to be contacted is not withdrawn, as
    the case's stream has it when the search is answered (``case_list.consents_now``, the
    case file's contact rule): read after the index, so that a search answered after a
    withdrawal's answer never finds them by their phone, even while the index has not
    caught up with the withdrawal. Only the principal has a phone row, so the person
    found is the one whose consent counts. No probe of a case whose rows already say
    withdrawn."""
    found: dict[str, set[str]] = {}
    for m in matches:
        found.setdefault(m.case_id, set()).add(m.person_id)

    def all_withdrawn(case_id: str, recorded: dict[str, str]) -> bool:
        return all(recorded.get(person) == "withdrawn" for person in found[case_id])

    consents = await case_list.consents_now(
        conn, found, CONTACT_BY_PROGRAMME, repo, settled=all_withdrawn
    )
    return [
        m
        for m in matches
        if m.case_id in consents and not consents[m.case_id].withdrawn(m.person_id)
    ]


async def _cases(conn: AsyncConnection, case_ids: Iterable[str]) -> dict[str, Any]:
    wanted = sorted(case_ids)
    if not wanted:
        return {}
    c = read_models.cases.c
    rows = await conn.execute(
        select(c.case_id, c.office, c.status, c.detail).where(c.case_id.in_(wanted))
    )
    return {r.case_id: r for r in rows}


async def _shown(
    cipher: PersonalDataCipher, matches: Sequence[Match], case_rows: dict[str, Any]
) -> list[dict[str, Any]]:
    """What the caller reads of each match; the keys of every person are loaded in one query
    (reveal), and one whose key is gone is not shown."""
    people: list[tuple[Match, Any, dict[str, Any]]] = []
    for m in matches:
        row = case_rows.get(m.case_id)
        member = None if row is None else _member(row.detail, m.person_id)
        if member is not None:
            people.append((m, row, member))
    revealed = await cipher.reveal([member["personal"] for _, _, member in people], erased=ERASED)
    items = []
    for (m, row, member), personal in zip(people, revealed, strict=True):
        if personal is ERASED:
            continue
        items.append(
            {
                "case_id": m.case_id,
                "person_id": m.person_id,
                "relationship": member["relationship"],
                "given_names": personal.get("given_names"),
                "family_name": personal.get("family_name"),
                "date_of_birth": personal.get("date_of_birth"),
                "office": row.office,
                "case_status": row.status,
                "score": m.score,
            }
        )
    return items


def _member(detail: dict[str, Any], person_id: str) -> dict[str, Any] | None:
    return next((p for p in detail.get("household", []) if p["person_id"] == person_id), None)


SEARCH_ROUTE: Final = "POST /people/search"


async def _audit(
    runtime: ServiceRuntime,
    principal: Principal,
    fields: Sequence[str],
    case_ids: Sequence[str],
    client: str | None,
) -> None:
    """One entry per case returned (none found: one entry without a case), naming the fields
    searched by in the route: who looked for whom, and by what, without the terms."""
    route = f"{SEARCH_ROUTE} by {'+'.join(fields)}"
    await runtime.audit.record_reads(
        actor=principal.user_id, route=route, case_ids=case_ids, client=client
    )


@functools.lru_cache(maxsize=4)
def key_of(secret: bytes) -> SearchKey:
    """The search key of intake's secret (derived once per secret, not per request)."""
    return SearchKey(secret)
