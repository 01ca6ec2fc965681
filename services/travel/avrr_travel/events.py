"""Every event type this service writes (its movements' and groups') or reads (other
services')."""

from __future__ import annotations

from avrr_events import EventRegistry
from avrr_travel import group
from avrr_travel.movement import EVENTS
from avrr_travel.observed import OBSERVED

registry = EventRegistry([*EVENTS, *group.EVENTS, *OBSERVED])
