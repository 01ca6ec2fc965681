"""A human sentence kept as a catalog message and its facts, worded when it is answered.

A refusal's ``detail`` or a decision's reason is read by a person: in their
language when the reader asks for one (Accept-Language). The code that
refuses does not know the reader, so it gives a ``Wording``: a service's
gettext message (``N_``-marked, with ``%(name)s`` placeholders) and the
facts to fill in. The answer words it in the reader's language
(``avrr_events.web.http`` does so for problem details); ``english`` is the
sentence as it always read, for logs, events and readers without a
preference. Facts are codes, ids and numbers: they are not translated;
a fact that is itself a ``Wording`` (a phrase of the catalog, as the action a
refusal names in "cannot %(action)s: ...") is worded in the same language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from avrr_events.notices.catalogs import translations


@dataclass(frozen=True)
class Wording:
    """``message`` of ``domain``'s catalog with ``facts``, in any language on demand."""

    domain: str
    message: str
    facts: Mapping[str, object] = field(default_factory=dict)

    @property
    def english(self) -> str:
        """The source sentence (English), as the code wrote it."""
        return self.message % self._filled(None) if self.facts else self.message

    def in_language(self, language: str) -> str:
        """The sentence in ``language`` (its fallback chain for a missing translation)."""
        worded = translations(self.domain, language).gettext(self.message)
        return worded % self._filled(language) if self.facts else worded

    def _filled(self, language: str | None) -> dict[str, object]:
        """The facts as they fill the sentence: a phrase among them worded alike
        (``language`` None: in English)."""
        return {
            name: (fact.english if language is None else fact.in_language(language))
            if isinstance(fact, Wording)
            else fact
            for name, fact in self.facts.items()
        }
