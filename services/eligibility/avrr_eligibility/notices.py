"""The eligibility decision as the person is told it, in their language (issue 19).

An assessment the person cannot understand is not an informed decision: the
decision notice says, in the person's language, whether the request is
eligible, for which programme, every rule's reason, what the due diligence
still needs, and the person's rights. Events keep the English reasons they
were decided with; a notice words them again from the same rules
(``programmes.Wording``) with eligibility's catalog (domain
``avrr_eligibility``), and keeps a stored reason as it was whenever the rules
of today would word it differently (another programme file): a notice never
says something the decision did not.

The notice holds no personal data (eligibility has none: ids, countries,
ages), so every role that may read the decision may read the notice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from avrr_eligibility import reasons
from avrr_eligibility.assessment import Assessment
from avrr_eligibility.programmes import (
    ENGLISH,
    ProgrammeCatalogue,
    RuleOutcome,
    Wording,
    decide,
)
from avrr_events.notices import (
    N_,
    Notice,
    Section,
    alternatives,
    country_name,
    format_date,
    translations,
)
from avrr_events.notices.rights import rights_section

DOMAIN = "avrr_eligibility"


def wording(language: str) -> Wording:
    """How eligibility's reasons read in ``language`` (``ENGLISH`` for English: as recorded)."""
    if language == "en":
        return ENGLISH
    return Wording(
        gettext=translations(DOMAIN, language).gettext,
        country=lambda code: country_name(code, language),
        either=lambda names: alternatives(names, language),
        day=lambda day: format_date(day, language),
    )


def person_languages(assessment: Assessment) -> tuple[str, ...]:
    """The languages the person reads, as intake recorded them (in its ReturnRequested)."""
    return tuple(assessment.request.languages) if assessment.request else ()


# ------------------------------------------------------------ decision reasons --


def decision_reasons(
    assessment: Assessment, catalogue: ProgrammeCatalogue, language: str
) -> list[RuleOutcome]:
    """The decision's reasons in ``language``: the rule codes and outcomes as recorded."""
    decision = assessment.decision
    if decision is None:
        return []
    return [
        outcome.model_copy(update={"detail": reword})
        for outcome, reword in zip(
            decision.reasons,
            _reworder(assessment, catalogue, language)([r.detail for r in decision.reasons]),
            strict=True,
        )
    ]


def _reworder(
    assessment: Assessment, catalogue: ProgrammeCatalogue, language: str
) -> Callable[[Sequence[str]], list[str]]:
    """Rewords recorded English reasons in ``language``: the decision's rules decided again
    and worded there when they give the same English; else a catalog message."""
    if language == "en":
        return list
    words = wording(language)
    again: dict[str, str] = {}
    decision, request = assessment.decision, assessment.request
    if (
        decision is not None
        and request is not None
        and decision.programmes_version == catalogue.version
    ):
        english = decide(catalogue, request.return_request).reasons
        if [r.model_dump() for r in english] == [r.model_dump() for r in decision.reasons]:
            worded = decide(catalogue, request.return_request, words).reasons
            again = {e.detail: w.detail for e, w in zip(english, worded, strict=True)}

    def reword(texts: Sequence[str]) -> list[str]:
        return [again.get(text) or _from_catalog(text, words) for text in texts]

    return reword


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Every message with placeholders as a pattern of its English text."""
    found = []
    for message in reasons.WITH_FACTS:
        pattern = re.escape(message)
        pattern = re.sub(r"%\\\((\w+)\\\)[sd]", r"(?P<\1>.+?)", pattern)
        found.append((re.compile(f"^{pattern}$"), message))
    return tuple(found)


def _from_catalog(text: str, words: Wording) -> str:
    """A recorded English reason in the catalog's language: a fixed message as it is, one
    with facts (a person id, a date) by its pattern; unknown texts stay as recorded."""
    translated = words.gettext(text)
    if translated != text:
        return translated
    for pattern, message in _patterns():
        match = pattern.match(text)
        if match is not None:
            return words.gettext(message) % match.groupdict()
    return text


def due_diligence_reasons(
    assessment: Assessment, catalogue: ProgrammeCatalogue, language: str, recorded: Sequence[str]
) -> list[str]:
    """A rejection's recorded reasons in ``language`` (rule reasons among them too)."""
    return _reworder(assessment, catalogue, language)(recorded)


def translated_decision(
    row: Any, assessment: Assessment, catalogue: ProgrammeCatalogue, language: str
) -> dict[str, Any]:
    """The read model's decision and due diligence reasons, their texts in ``language``."""
    reword = _reworder(assessment, catalogue, language)
    outcomes = [
        dict(r, detail=d)
        for r, d in zip(row.reasons, reword([r["detail"] for r in row.reasons]), strict=True)
    ]
    return {"reasons": outcomes, "due_diligence_reasons": reword(list(row.due_diligence_reasons))}


# ------------------------------------------------------------------- notice --


def decision_notice(
    assessment: Assessment,
    catalogue: ProgrammeCatalogue,
    language: str,
    due_diligence: Sequence[str] = (),
) -> Notice:
    """The decision notice of a case in ``language``: the outcome, every reason, what the
    due diligence still needs (``due_diligence``: the last rejection's reasons), rights."""
    t = translations(DOMAIN, language).gettext
    decision, request = assessment.decision, assessment.request
    assert decision is not None and request is not None, "a decision is made when opened"
    programme = catalogue.get(decision.programme_id) if decision.programme_id else None
    rows = [
        (t(N_("Case")), assessment.id),
        (
            t(N_("Programme")),
            (programme.full_name or programme.name)
            if programme
            else decision.programme_id or t(N_("none")),
        ),
        (t(N_("Destination")), country_name(request.destination_country, language)),
        (t(N_("People in the household")), str(len(request.household))),
        (t(N_("Decided on")), format_date(decision.decided_at.date(), language)),
        (t(N_("Decision")), t(N_("Eligible")) if decision.eligible else t(N_("Not eligible"))),
    ]
    met, unmet = t(N_("Met")), t(N_("Not met"))
    outcomes = decision_reasons(assessment, catalogue, language)
    sections = [
        Section(
            t(N_("Why")),
            tuple(
                t(N_("%(outcome)s: %(reason)s"))
                % {"outcome": met if r.passed else unmet, "reason": r.detail}
                for r in outcomes
            ),
        ),
        _next_steps(assessment, catalogue, language, due_diligence, t),
        rights_section(
            language,
            t(
                N_(
                    "Return is voluntary: you may change your mind and withdraw at any "
                    "time, before or after this decision."
                )
            ),
        ),
    ]
    return Notice(
        language=language,
        title=t(N_("Decision on your request for assisted voluntary return")),
        rows=tuple(rows),
        sections=tuple(sections),
        footer=t(N_("Programme rules version %(version)s")) % {"version": catalogue.version},
    )


def _next_steps(
    assessment: Assessment,
    catalogue: ProgrammeCatalogue,
    language: str,
    due_diligence: Sequence[str],
    t: Callable[[str], str],
) -> Section:
    heading = t(N_("What happens next"))
    decision = assessment.decision
    assert decision is not None
    if assessment.closed:
        return Section(heading, (t(N_("The assessment of this case is closed.")),))
    if assessment.cleared:
        return Section(
            heading,
            (
                t(
                    N_(
                        "Your return is cleared for travel: the travel office will give you "
                        "the travel instructions."
                    )
                ),
            ),
        )
    if not decision.eligible:
        return Section(
            heading,
            (
                t(
                    N_(
                        "You may ask your caseworker to explain this decision, to look at it "
                        "again if your situation changes, and about other assistance."
                    )
                ),
            ),
        )
    paragraphs = [
        t(
            N_(
                "Before travel, your caseworker checks with you, in a private interview, that "
                "the return is your own free choice, and that it is safe."
            )
        )
    ]
    if due_diligence:
        paragraphs.append(t(N_("Still needed before your return can be cleared:")))
        paragraphs += [
            f"- {reason}"
            for reason in due_diligence_reasons(assessment, catalogue, language, due_diligence)
        ]
    return Section(heading, tuple(paragraphs))
