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
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from avrr_events import ERASED, Encrypted, EventStore, HandlerContext
from avrr_events.consumer import Reaction, reactions_table
from avrr_events.postgres import lock_key
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
from avrr_intake.case import registry as case_registry
from avrr_intake.consent import ConsentGiven, ConsentWithdrawn
from avrr_intake.observed import ArrivalConfirmed, DepartureConfirmed
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


class ReturnDeparted(PublicEvent):
    """A household of one case left for its country of origin (consented returnees only)."""

    event_type = "avrr.public.ReturnDeparted"

    case_reference: str = Field(description="keyed hash of the case: matches its ReturnArrived")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="country of origin returned to")
    departed_on: date
    returnees: list[Returnee] = Field(min_length=1)


class ReturnArrived(PublicEvent):
    """A household of one case arrived in its country of origin (consented returnees only)."""

    event_type = "avrr.public.ReturnArrived"

    case_reference: str = Field(description="keyed hash of the case: matches its ReturnDeparted")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="country of origin returned to")
    arrived_on: date
    returnees: list[Returnee] = Field(min_length=1)


CASES = PublicChannel(
    id="cases",
    address="cases.{country}",
    description=(
        "per-case departures and arrivals for the authorities of one country of origin; "
        "only returnees who consented to share with authorities, only the fields they chose; "
        "a withdrawal of consent stops every later record"
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
            if not case_registry.handles(recorded.envelope.type):
                continue
            match case_registry.decode(recorded.envelope):
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


# ------------------------------------------------ serialising with withdrawal --


async def exclude_publication(conn: AsyncConnection, case_id: str) -> None:
    """In a withdrawal's transaction: wait for any record of the case being published, and
    keep the relay from rendering one until this transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key(case_id)})


async def _share_publication(conn: AsyncConnection, case_id: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _key(case_id)})


def _key(case_id: str) -> int:
    return lock_key(f"authorities:{case_id}")


# ------------------------------------------------------------- reactions --


async def queue_departure(ctx: HandlerContext, event: DepartureConfirmed) -> None:
    """Travel confirmed the departure: queue the record if anyone consented to share."""
    await _queue(ctx, event.case_id, ReturnDeparted.event_type, event.departed_at, None)


async def queue_arrival(ctx: HandlerContext, event: ArrivalConfirmed) -> None:
    """Travel confirmed the arrival: queue the record if anyone consented to share."""
    await _queue(
        ctx, event.case_id, ReturnArrived.event_type, event.arrived_at, event.destination_country
    )


async def _queue(
    ctx: HandlerContext, case_id: str, event_type: str, at: datetime, country: str | None
) -> None:
    assert ctx.store is not None, "intake's consumer is built with its event store"
    state = await Disclosure.load(ctx.conn, ctx.store, case_id)
    country = country or state.destination
    if not state.anyone_shares or country is None:
        return  # without consent nothing is queued at all
    notice = {"case_id": case_id, "country": country, "at": at.isoformat()}
    await queue(ctx.conn, f"cases.{country}", event_type, case_id, notice)


# -------------------------------------------------------------- rendering --


def renderer(runtime: Any) -> Renderer:
    """The renderer of intake's public records for one running intake (ServiceRuntime)."""
    secret = IntakeSettings().secret(runtime.settings)
    store: EventStore = runtime.store
    cipher = runtime.cipher

    async def render(conn: AsyncConnection, notice: Notice) -> Any:
        case_id = notice.subject
        await _share_publication(conn, case_id)
        state = await Disclosure.load(conn, store, case_id)
        if not state.anyone_shares:
            return None
        returnees = []
        for person in state.people:
            fields = state.shared.get(person.person_id)
            if not fields:
                continue
            personal = await cipher.decrypt(person.personal)
            if personal is ERASED:
                continue
            returnees.append(_returnee(fields, personal, person.sex, state.nationality))
        if not returnees:
            return None
        at = datetime.fromisoformat(notice.notice["at"])
        reference = case_reference(secret, case_id)
        country = notice.notice["country"]
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
REACTIONS: dict[str, list[Reaction]] = reactions_table(
    {DepartureConfirmed: [queue_departure], ArrivalConfirmed: [queue_arrival]}
)
