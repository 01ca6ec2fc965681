"""Every event type eligibility writes or reads, in one registry (with the source it writes as)."""

from __future__ import annotations

from avrr_eligibility.assessment import ASSESSMENT_EVENTS
from avrr_eligibility.destination import DESTINATION_EVENTS
from avrr_eligibility.observed import registry as intake_registry
from avrr_events import EventRegistry

SOURCE = "/avrr/eligibility"

registry = EventRegistry([*ASSESSMENT_EVENTS, *DESTINATION_EVENTS])
registry.include(intake_registry)
