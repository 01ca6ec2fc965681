"""Travel's refusals for people, as catalog messages (domain ``avrr_travel``).

A refusal's detail is read by a person: the problem+json answer words it in
the reader's Accept-Language (avrr_events.web.http), its English as before.
The code that refuses gives ``worded(N_("... %(fact)s ..."), fact=...)``:
the sentence is translated in the catalog, its facts (case and person ids,
amounts, codes) are not. The messages more than one module refuses with are
named here; the others are written where they are raised.
"""

from __future__ import annotations

from avrr_events.notices import N_
from avrr_events.notices.wording import Wording

DOMAIN = "avrr_travel"


def worded(message: str, **facts: object) -> Wording:
    """A travel sentence with its facts, worded in the reader's language when answered."""
    return Wording(DOMAIN, message, facts)


NO_MOVEMENT = N_("no movement for case %(case)s")
NOT_A_TRAVELLER = N_("%(person)s is not a traveller of this movement")
