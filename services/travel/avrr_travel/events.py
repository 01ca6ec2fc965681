"""Every event type this service writes (its movements', groups' and pre-departure budgets')
or reads (other services')."""

from __future__ import annotations

from avrr_events import EventRegistry
from avrr_travel import budgets, group
from avrr_travel.movement import EVENTS
from avrr_travel.observed import OBSERVED

registry = EventRegistry([*EVENTS, *group.EVENTS, *budgets.BUDGET_EVENTS, *OBSERVED])
