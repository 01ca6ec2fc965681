"""The promises every notice ends with, worded once for every service.

Each notice a person is given (the decision, the travel instructions, the
reintegration plan) reminds them of the programme's promises: the assistance
is free, what they say is confidential, and they may give feedback or
complain. These sentences are the same in every service, so they are
messages of the library's own catalog (domain ``avrr_events``, in
``avrr_events/locale``), not copies in each service's; a notice adds its own
sentence on voluntariness first (what the person may still decide at that
point differs: before a decision, before departure, during reintegration).
"""

from __future__ import annotations

from avrr_events.notices.catalogs import N_, translations
from avrr_events.notices.document import Section

DOMAIN = "avrr_events"

HEADING = N_("Your rights")
FREE = N_("The assistance is free of charge.")
CONFIDENTIAL = N_(
    "What you tell us is confidential: nothing is shared with the authorities without your consent."
)
FEEDBACK = N_(
    "You may give feedback or make a complaint through your caseworker, a partner, or anonymously."
)


def rights_section(language: str, voluntary: str) -> Section:
    """The rights section in ``language``: the notice's own sentence on voluntariness
    (``voluntary``, already in the language), then the promises every notice repeats."""
    t = translations(DOMAIN, language).gettext
    return Section(t(HEADING), (voluntary, t(FREE), t(CONFIDENTIAL), t(FEEDBACK)))
