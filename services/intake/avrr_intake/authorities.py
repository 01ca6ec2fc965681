"""Per-case records for the authorities of the country of origin, only with consent.

The seeds promise that "personal information will not be shared with
authorities without their consent". Intake publishes these records because it
owns both what they need: the consent (per person, per purpose, with the
fields the person agreed to share) and the personal data (encrypted per
person). Travel's departures and arrivals reach intake as events; for each,
if someone in the household has consented to share with the authorities, a
notice is queued in the consumer's transaction (``avrr_events.public``).

The record itself is rendered when the public relay publishes it, from the
consent of that moment and inside the relay's transaction, which stays open
until the broker acknowledged it. A withdrawal of consent takes the same
case's advisory lock exclusively (``exclude_publication``), the renderer takes
it shared: so a withdrawal waits for a record of that case being published,
and once it is committed no record rendered afterwards carries that person's
data, including notices queued before it. On SQLite (the embedded default)
both transactions take the database's write lock, to the same effect.

The record is keyed by a case reference, a keyed hash of the case id: stable
for one case (its departure and arrival records can be matched) and not
reversible to the internal case id. It lists only the returnees who
consented, each with only their consented fields; with nobody left, nothing
is published at all (a record's existence says that someone returned).

The consented fields are never on the topic in plaintext: each returnee's
fields are sealed (AES-256-GCM) under a **disclosure key** of that person in
that case, kept in the key store with the personal data keys (subject
``disclosure:<case id>:<person id>``, never published). The record names the
key by an opaque key id (the case, the person and the country sealed with
AES-GCM-SIV under a key derived from intake's secret: stable, not readable
outside intake). A government system fetches the key from
``GET /public/disclosure-keys/{key_id}`` with an ``authority`` token naming
its country; intake releases it only for that country's records, only while
the person's consent stands and their data exists, and audits every answer.
The key is created with the consent, deleted by a withdrawal of it and by
erasure (requested or retention): what a topic keeps forever is then
ciphertext that nobody can open (crypto-shredding, as for the domain topics).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import ERASED, Encrypted, EventStore
from avrr_events.adapters.postgres import lock_key, lock_until_commit
from avrr_events.commands import Principal
from avrr_events.personal import KeyStore
from avrr_events.problems import Forbidden, Gone, NotFound, Unavailable
from avrr_events.public import (
    Notice,
    PublicChannel,
    PublicEvent,
    PublicTopics,
    Renderer,
    public_envelope,
    queue,
)
from avrr_intake.case import Case, PersonalDataErased, ReturnRequested
from avrr_intake.consent import ConsentGiven, ConsentWithdrawn
from avrr_intake.events import registry
from avrr_intake.notices import N_, worded
from avrr_intake.referral import ReferralReceived
from avrr_intake.settings import IntakeSettings

SOURCE = "/avrr/intake"

# ------------------------------------------------------------ public events --


class TravelDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str | None = None
    number: str


class Returnee(BaseModel):
    """One returnee who consented: exactly the fields they agreed to share, no others.

    Every field is optional because each is present only when consented; a
    subscriber must treat an absent field as "not shared", never as unknown.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_names: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    sex: str | None = None
    nationality: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    travel_document: TravelDocument | None = None


KEY_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{20,300}$"


class SealedReturnee(BaseModel):
    """One consenting returnee's fields, sealed for the authorities of the record's country.

    ``ct`` opens with the disclosure key that intake's
    ``GET /public/disclosure-keys/{key_id}`` releases (role ``authority``, for
    the record's country, while the consent stands and the data exists):
    AES-256-GCM, ``nonce`` as nonce, the ASCII bytes of ``key_id`` as
    associated data; the plaintext is one Returnee as UTF-8 JSON
    (``given_names``, ``family_name``, ``date_of_birth``, ``sex``,
    ``nationality``, ``travel_document: {type, number}``: only the fields that
    person consented to share). Once the consent is withdrawn or the data
    erased, the key is gone and the record can no longer be opened.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alg: Literal["A256GCM"] = "A256GCM"
    key_id: str = Field(
        pattern=KEY_ID_PATTERN,
        description="opaque id of the disclosure key (same person, case and country: same id)",
    )
    nonce: str = Field(description="base64 96-bit nonce")
    ct: str = Field(description="base64 ciphertext + tag of the Returnee JSON")


class ReturnDeparted(PublicEvent):
    """A household of one case left for its country of origin (consented returnees only)."""

    event_type = "avrr.public.ReturnDeparted"

    case_reference: str = Field(description="keyed hash of the case: matches its ReturnArrived")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="country of origin returned to")
    departed_on: date
    returnees: list[SealedReturnee] = Field(
        min_length=1, description="one per consenting returnee, sealed (see SealedReturnee)"
    )


class ReturnArrived(PublicEvent):
    """A household of one case arrived in its country of origin (consented returnees only)."""

    event_type = "avrr.public.ReturnArrived"

    case_reference: str = Field(description="keyed hash of the case: matches its ReturnDeparted")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="country of origin returned to")
    arrived_on: date
    returnees: list[SealedReturnee] = Field(
        min_length=1, description="one per consenting returnee, sealed (see SealedReturnee)"
    )


CASES = PublicChannel(
    id="cases",
    address="cases.{country}",
    description=(
        "per-case departures and arrivals for the authorities of one country of origin; "
        "only returnees who consented to share with authorities, only the fields they chose, "
        "sealed under a disclosure key that intake releases to that country's authority "
        "while the consent stands; a withdrawal of consent or an erasure deletes the key"
    ),
    key="case reference (keyed hash of the case, not reversible)",
    events=(ReturnDeparted, ReturnArrived),
    parameters={"country": "ISO 3166-1 alpha-2 code of the country of origin"},
)

# ---------------------------------------------------------- consent state --


@dataclass
class _Person:
    person_id: str
    sex: str
    personal: Encrypted


@dataclass
class Disclosure:
    """What may be shared about one case now: people, and each one's consented fields."""

    case_id: str
    nationality: str | None = None
    destination: str | None = None
    people: list[_Person] = field(default_factory=list)
    shared: dict[str, list[str]] = field(default_factory=dict)
    erased: bool = False

    @classmethod
    async def load(cls, conn: AsyncConnection, store: EventStore, case_id: str) -> Disclosure:
        """Fold the case's stream (the source of truth of consent), read in ``conn``."""
        state = cls(case_id)
        for recorded in await store.load(Case(case_id).stream_id, conn=conn):
            if not registry.handles(recorded.envelope.type):
                continue
            match registry.decode(recorded.envelope):
                case ReferralReceived() as e:
                    state.nationality = e.nationality
                    state.people = [_Person(p.person_id, p.sex, p.personal) for p in e.household]
                case ReturnRequested() as e:
                    state.destination = e.destination_country
                case ConsentGiven(purpose="share_with_authorities") as e:
                    state.shared[e.person_id] = list(e.shared_fields or ())
                case ConsentWithdrawn(purpose="share_with_authorities") as e:
                    if e.person_id is None:
                        state.shared.clear()
                    else:
                        state.shared.pop(e.person_id, None)
                case PersonalDataErased():
                    state.erased = True
        return state

    @property
    def anyone_shares(self) -> bool:
        return not self.erased and any(self.shared.values())

    def shares(self, person_id: str) -> bool:
        """Whether the person's consent to share with the authorities stands, data unerased."""
        return not self.erased and bool(self.shared.get(person_id))


def case_reference(secret: bytes, case_id: str) -> str:
    """A stable, non-reversible reference of a case for the public records."""
    return hmac.new(
        secret, f"public-case-reference:{case_id}".encode(), hashlib.sha256
    ).hexdigest()[:32]


def _returnee(
    fields: list[str], personal: dict[str, Any], sex: str, nationality: str | None
) -> Returnee:
    values: dict[str, Any] = {}
    for name in fields:
        if name in ("given_names", "family_name", "date_of_birth"):
            values[name] = personal.get(name)
        elif name == "sex":
            values[name] = sex
        elif name == "nationality":
            values[name] = nationality
        elif name == "travel_document" and personal.get("document"):
            values[name] = personal["document"]
    return Returnee.model_validate(values)


# ------------------------------------------------------- disclosure keys --


def disclosure_subject(case_id: str, person_id: str) -> str:
    """The key-store subject of a person's disclosure key in a case (internal, never published)."""
    return f"disclosure:{case_id}:{person_id}"


@dataclass(frozen=True)
class KeyHolder:
    """Whom a disclosure key id names: the case, the person, the record's country."""

    case_id: str
    person_id: str
    country: str


class DisclosureKeys:
    """Names disclosure keys with opaque ids and seals returnees under them.

    A key id is the holder (case, person, country) sealed with AES-GCM-SIV under
    a key derived from intake's secret and a fixed nonce: deterministic, so the
    departure and the arrival of one person name the same key (a subscriber
    fetches it once), authenticated, so a forged id is refused, and readable
    by intake alone, so no internal id reaches the topic. Intake needs no
    table to answer for a key id: the id itself says whose key it is.
    """

    _NONCE: Final = bytes(12)  # SIV: a fixed nonce is deterministic encryption, nothing worse
    _AAD: Final = b"avrr public disclosure key id"

    def __init__(self, secret: bytes, keys: KeyStore) -> None:
        # Ids are sealed under an HKDF-SHA256 (RFC 5869) key of intake's secret. The
        # ids issued before (under one HMAC-SHA256 of the secret) stay on the public
        # topics forever and keep naming their keys: ``holder`` opens them with the
        # first derivation too. A person whose departure was published before the
        # change and whose arrival after it is named by two ids of the one key.
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"avrr/public-disclosure-key-id"
        ).derive(secret)
        first = hmac.new(secret, b"public-disclosure-key-id", hashlib.sha256).digest()
        self._ids = AESGCMSIV(derived)
        self._readers = (self._ids, AESGCMSIV(first))
        self.keys = keys

    def key_id(self, holder: KeyHolder) -> str:
        plain = "\n".join((holder.case_id, holder.person_id, holder.country)).encode()
        sealed = self._ids.encrypt(self._NONCE, plain, self._AAD)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def holder(self, key_id: str) -> KeyHolder | None:
        """The holder a key id names (issued under either derivation), or None for a foreign id."""
        try:
            sealed = base64.urlsafe_b64decode(key_id + "=" * (-len(key_id) % 4))
        except (binascii.Error, ValueError):
            return None
        for reader in self._readers:
            try:
                parts = reader.decrypt(self._NONCE, sealed, self._AAD).decode().split("\n")
            except (InvalidTag, ValueError):
                continue
            return KeyHolder(*parts) if len(parts) == 3 else None
        return None

    async def seal(self, holder: KeyHolder, returnee: Returnee) -> SealedReturnee | None:
        """The returnee sealed under their disclosure key; None when there is no key (any more)."""
        key = await self.keys.get(disclosure_subject(holder.case_id, holder.person_id))
        if key is None:
            return None
        key_id = self.key_id(holder)
        nonce = os.urandom(12)
        plain = json.dumps(
            returnee.model_dump(mode="json", exclude_none=True),
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        ct = AESGCM(key).encrypt(nonce, plain, key_id.encode())
        return SealedReturnee(
            key_id=key_id,
            nonce=base64.b64encode(nonce).decode(),
            ct=base64.b64encode(ct).decode(),
        )


async def create_disclosure_key(keys: KeyStore, case_id: str, person_id: str) -> None:
    """With a consent to share with the authorities: the key its records will be sealed under.

    Created once the case accepted the consent and before it is appended: if
    the append then fails, a key without a standing consent seals nothing and
    is released to nobody (and erasure deletes it with the others).
    """
    await keys.get_or_create(disclosure_subject(case_id, person_id))


async def delete_disclosure_keys(keys: KeyStore, case_id: str, person_ids: Iterable[str]) -> None:
    """Withdrawal or erasure: every record sealed for these people can no longer be opened."""
    for person_id in sorted(set(person_ids)):
        await keys.delete(disclosure_subject(case_id, person_id))


KEY_ROUTE = "GET /public/disclosure-keys/{key_id}"


async def release_key(
    runtime: Any, principal: Principal, key_id: str, client: str | None
) -> dict[str, str]:
    """Answer a government system's request for a disclosure key (the key route's rule).

    404 for an id intake did not issue; 403 unless the ``authority`` token's
    ``offices`` claim names the record's country (an exact ISO code: ``*``
    does not count, no authority sees every country); 410 once the person's
    consent is withdrawn or their data erased (or the key is gone); else the
    key. Every answer about a real key is audited first, with the case id
    and the caller: a release that cannot be audited is refused (503).
    """
    disclosure = DisclosureKeys(IntakeSettings().secret(runtime.settings), runtime.cipher.keys)
    holder = disclosure.holder(key_id)
    if holder is None:
        raise NotFound(wording=worded(N_("no such disclosure key")))

    async def audited(outcome: int) -> None:
        try:
            await runtime.audit.record(
                actor=principal.user_id,
                action="disclose",
                route=KEY_ROUTE,
                outcome=outcome,
                case_id=holder.case_id,
                client=client,
            )
        except Exception as exc:
            raise Unavailable(
                wording=worded(N_("the release could not be audited; try again"))
            ) from exc

    if holder.country not in principal.offices:
        await audited(403)
        raise Forbidden(
            wording=worded(
                N_("this key is for the authorities of %(country)s"), country=holder.country
            )
        )
    store: EventStore = runtime.store
    async with runtime.db.autocommit() as conn:
        state = await Disclosure.load(conn, store, holder.case_id)
    key = None
    if state.shares(holder.person_id):
        key = await runtime.cipher.keys.get(disclosure_subject(holder.case_id, holder.person_id))
    if key is None:
        await audited(410)
        raise Gone(
            wording=worded(N_("the person withdrew their consent, or their data was erased"))
        )
    await audited(200)
    return {
        "key_id": key_id,
        "alg": "A256GCM",
        "country": holder.country,
        "key": base64.b64encode(key).decode(),
    }


# ------------------------------------------------ serialising with withdrawal --


async def exclude_publication(conn: AsyncConnection, case_id: str) -> None:
    """In a withdrawal's transaction: wait for any record of the case being published, and
    keep the relay from rendering one until this transaction ends."""
    await lock_until_commit(conn, _key(case_id))


async def _share_publication(conn: AsyncConnection, case_id: str) -> None:
    await lock_until_commit(conn, _key(case_id), shared=True)


def _key(case_id: str) -> int:
    return lock_key(f"authorities:{case_id}")


# ---------------------------------------------------------------- queuing --


async def queue_record(
    conn: AsyncConnection,
    store: EventStore,
    record: type[ReturnDeparted | ReturnArrived],
    case_id: str,
    at: datetime,
    country: str | None,
) -> None:
    """Queue a notice of the case's departure or arrival, if anyone consented to share.

    Called by the reactions to travel's events (reactions.py), in the
    consumer's transaction; the record itself is rendered at publish time.
    """
    state = await Disclosure.load(conn, store, case_id)
    country = country or state.destination
    if not state.anyone_shares or country is None:
        return  # without consent nothing is queued at all
    notice = {"case_id": case_id, "country": country, "at": at.isoformat()}
    await queue(conn, f"cases.{country}", record.event_type, case_id, notice)


# -------------------------------------------------------------- rendering --


def renderer(runtime: Any) -> Renderer:
    """The renderer of intake's public records for one running intake (ServiceRuntime)."""
    secret = IntakeSettings().secret(runtime.settings)
    store: EventStore = runtime.store
    cipher = runtime.cipher
    disclosure = DisclosureKeys(secret, cipher.keys)

    async def render(conn: AsyncConnection, notice: Notice) -> Any:
        case_id = notice.subject
        await _share_publication(conn, case_id)
        state = await Disclosure.load(conn, store, case_id)
        if not state.anyone_shares:
            return None
        country = notice.notice["country"]
        returnees = []
        for person in state.people:
            fields = state.shared.get(person.person_id)
            if not fields:
                continue
            personal = await cipher.decrypt(person.personal)
            if personal is ERASED:
                continue
            returnee = _returnee(fields, personal, person.sex, state.nationality)
            sealed = await disclosure.seal(KeyHolder(case_id, person.person_id, country), returnee)
            if sealed is not None:  # no key: withdrawn or erased while this was rendered
                returnees.append(sealed)
        if not returnees:
            return None
        at = datetime.fromisoformat(notice.notice["at"])
        reference = case_reference(secret, case_id)
        event: PublicEvent
        if notice.type == ReturnArrived.event_type:
            event = ReturnArrived(
                case_reference=reference, country=country, arrived_on=at.date(), returnees=returnees
            )
        else:
            event = ReturnDeparted(
                case_reference=reference,
                country=country,
                departed_on=at.date(),
                returnees=returnees,
            )
        return public_envelope(
            event, event_id=notice.event_id, source=SOURCE, subject=reference, time=at
        )

    return render


PUBLIC = PublicTopics(channels=(CASES,), renderer=renderer)
