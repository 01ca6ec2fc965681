"""Every event type this service writes (its aggregates') or reads (other services')."""

from __future__ import annotations

from avrr_events import EventRegistry
from avrr_reintegration.allocation import PROGRAMME_EVENTS
from avrr_reintegration.observed import OBSERVED_EVENTS
from avrr_reintegration.reintegration import CASE_EVENTS

registry = EventRegistry([*CASE_EVENTS, *PROGRAMME_EVENTS, *OBSERVED_EVENTS])
