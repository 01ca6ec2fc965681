"""Every event type intake writes (its Case's) or reads (other services'): open this first.

Intake's own events are defined with the domain they belong to (referral.py,
counselling.py, consent.py, health.py, case.py) and recorded by the Case
aggregate (``CASE_EVENTS``), and feedback.py's, each item a stream of its own
(``FEEDBACK_EVENTS``, read by intake alone); the tolerant-reader copies of the other services'
events are observed.py's (``OBSERVED``), read for the timeline, the reports,
the retention clock and the public records. ``avrr events map`` says, for each,
who produces it, who consumes it and what it feeds.
"""

from __future__ import annotations

from avrr_events import EventRegistry
from avrr_intake.case import CASE_EVENTS
from avrr_intake.feedback import FEEDBACK_EVENTS
from avrr_intake.observed import OBSERVED

registry = EventRegistry([*CASE_EVENTS, *FEEDBACK_EVENTS, *OBSERVED])
