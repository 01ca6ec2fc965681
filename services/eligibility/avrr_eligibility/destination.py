"""Destination safety (aggregate): a supervisor suspends and reopens returns to a place.

A place is a country, or a region of a country (``HN`` or ``HN/GD``, its key
by ``avrr_events.places``: every spelling of Gracias a Dios is one stream);
each has its own stream, so suspending a region and suspending the whole
country are independent decisions. While a suspension covers a case's
destination, due diligence cannot clear the case; cases cleared before are
flagged in the read model, and travel holds their movements on its own when it
sees DestinationSuspended (no service waits for another).
"""

from __future__ import annotations

from datetime import datetime

from avrr_eligibility import reasons
from avrr_eligibility.assessment import Suspension
from avrr_eligibility.countries import CountryCode
from avrr_eligibility.reasons import worded
from avrr_events import Aggregate, DomainEvent
from avrr_events.places import canonical_text, place
from avrr_events.problems import Conflict
from avrr_events.registry import declared_events


class _PlaceEvent(DomainEvent):
    # Every decision about a place names it as the supervisor entered it (its key is
    # the stream's); no event_type: not an event of its own.
    destination_country: CountryCode
    destination_region: str | None = None


class DestinationSuspended(_PlaceEvent):
    event_type = "avrr.eligibility.DestinationSuspended"

    reason: str
    suspended_by: str
    suspended_at: datetime


class DestinationReopened(_PlaceEvent):
    event_type = "avrr.eligibility.DestinationReopened"

    reopened_by: str
    reopened_at: datetime
    # Optional addition: why returns may resume (required by the API since it was added).
    reason: str | None = None


DESTINATION_EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), DomainEvent)


class DestinationStateError(Conflict):
    """Suspending a suspended place or reopening an open one (HTTP 409)."""


def place_streams(country: str, region: str | None = None) -> list[str]:
    """The aggregate ids a place's suspension may live in: its key first, then older names.

    Before places had keys, a region's stream was named by its text without
    accents, case or extra spaces (``HN/atlantida``, or ``HN/hn-at`` when it was
    typed as a code). A suspension recorded then still counts, and is the one
    a reopening ends, so those names are read too. For a region no ISO 3166-2
    code names, the older name is the key itself.
    """
    where = place(country, region)
    streams = [where.key]
    if where.region is not None:
        older = [canonical_text(where.region), where.region_name, where.region_code]
        older.append(where.region_key if where.region_code else None)
        for name in older:
            if name:
                stream = f"{where.country}/{canonical_text(name)}"
                if stream not in streams:
                    streams.append(stream)
    return streams


class DestinationSafety(Aggregate):
    """Whether returns to one country or region are suspended."""

    stream_type = "destination"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.suspension: DestinationSuspended | None = None

    @property
    def subject(self) -> str:
        # docs/events.md: subject = destination:<CC>[/<region>]
        return f"destination:{self.id}"

    def when(self, event: DomainEvent) -> None:
        match event:
            case DestinationSuspended():
                self.suspension = event
            case DestinationReopened():
                self.suspension = None

    @property
    def active_suspension(self) -> Suspension | None:
        s = self.suspension
        if s is None:
            return None
        return Suspension(s.destination_country, s.destination_region, s.reason, s.suspended_at)

    def suspend(
        self, country: str, region: str | None, reason: str, by: str, now: datetime
    ) -> None:
        if self.suspension is not None:
            raise DestinationStateError(wording=worded(reasons.ALREADY_SUSPENDED, place=self.id))
        self.record(
            DestinationSuspended(
                destination_country=country,
                destination_region=region,
                reason=reason,
                suspended_by=by,
                suspended_at=now,
            )
        )

    def reopen(self, by: str, now: datetime, reason: str | None = None) -> None:
        s = self.suspension
        if s is None:
            raise DestinationStateError(wording=worded(reasons.NOT_SUSPENDED, place=self.id))
        self.record(
            DestinationReopened(
                destination_country=s.destination_country,
                destination_region=s.destination_region,
                reopened_by=by,
                reopened_at=now,
                reason=reason,
            )
        )
