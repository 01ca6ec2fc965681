"""Eligibility's sentences for people, as catalog messages (domain ``avrr_eligibility``).

Why due diligence refuses a clearance: ``DueDiligenceRejected`` records its
reasons in English (assessment.py words them from these); a notice gives them
in the person's language (avrr_eligibility.notices): a fixed sentence through
the catalog as it is, one with facts (a child's id, a place and date) matched
by its pattern and worded again with the same facts.

Why a command is refused: the aggregate's refusals carry a ``Wording`` of
these, which the problem+json answer gives in the reader's Accept-Language
(avrr_events.web.http), its English as before.
"""

from __future__ import annotations

from avrr_events.notices import N_
from avrr_events.notices.wording import Wording

DOMAIN = "avrr_eligibility"


def worded(message: str, **facts: object) -> Wording:
    """An eligibility sentence with its facts, worded in the reader's language when answered."""
    return Wording(DOMAIN, message, facts)


# Refusals of commands on an assessment (assessment.py).
CLOSED = N_("the assessment of case %(case)s is closed")
WITHDRAWN = N_("the assessment of case %(case)s is closed (the case was withdrawn)")
ALREADY_ASSESSED = N_("case %(case)s is already being assessed")
NO_ASSESSMENT = N_("no assessment for case %(case)s")
NOT_IN_HOUSEHOLD = N_("person %(person)s is not in the household of case %(case)s")
CATEGORY_TWICE = N_("each vulnerability category may be listed once")
NOT_A_CHILD = N_("person %(person)s is %(age)s: not a child")
ALREADY_CLEARED = N_("case %(case)s is already cleared for travel")
BEST_INTERESTS_OF_ADULT = N_(
    "a best-interests determination is for children; person %(person)s is %(age)s"
)

# Refusals of the API's reads (api.py) and of a destination's safety (destination.py).
NO_PROGRAMME = N_("no programme %(programme)s")
UNKNOWN_STATUS = N_("unknown status %(unknown)s; use %(known)s")
ALREADY_SUSPENDED = N_("returns to %(place)s are already suspended")
NOT_SUSPENDED = N_("returns to %(place)s are not suspended")

NOT_ELIGIBLE = N_("The case was found not eligible for a return programme.")
PROGRAMME_ENDED = N_("The programme %(programme)s is no longer offered.")
SUSPENDED = N_("Returns to %(place)s are suspended since %(day)s for safety reasons: %(reason)s")
NO_BEST_INTERESTS = N_(
    "No best-interests determination is recorded for unaccompanied or separated child "
    "%(person)s: it is required before a child's return is cleared."
)
NOT_IN_BEST_INTERESTS = N_(
    "The best-interests determination found that return is not in the best interests of "
    "child %(person)s."
)

# The checklist's items not done (DueDiligenceChecklist), in the order they are checked.
IDENTITY = N_("The person's identity has not been verified.")
NATIONALITY = N_("The person's nationality has not been verified.")
VOLUNTARINESS = N_("Voluntariness has not been confirmed in a private interview, free of pressure.")
LEGAL_IMPEDIMENT = N_("A legal impediment to departure has not been ruled out.")
GUARDIAN = N_(
    "The family or receiving guardian of the unaccompanied or separated child has not been reached."
)
DESTINATION_SAFE = N_("The destination has not been confirmed safe for this person.")

WITH_FACTS: tuple[str, ...] = (PROGRAMME_ENDED, SUSPENDED, NO_BEST_INTERESTS, NOT_IN_BEST_INTERESTS)
"""The reasons with placeholders: a recorded one is recognised by its pattern."""
