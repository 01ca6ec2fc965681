"""Intake's refusals that several modules give alike, worded in the reader's language.

Issue 19: a refusal a person reads is a catalog message of intake's domain
(``avrr_intake``), answered in their Accept-Language; its facts (ids, codes)
are not translated. The refusals one module alone gives are written where
they are raised (``worded(N_(...), **facts)``); these are the ones the case,
its notes and files, its notices and its feedback share, so that each reads
the same wherever it is met.
"""

from __future__ import annotations

from typing import Any

from avrr_events.problems import DomainRuleViolation, NotFound
from avrr_intake.notices import N_, worded


def no_case(case_id: str) -> NotFound:
    """404: the command names a case that was never referred."""
    return NotFound(wording=worded(N_("case %(case)s does not exist"), case=case_id))


def case_not_found(case_id: str) -> NotFound:
    """404: a read names a case the read models do not hold."""
    return NotFound(wording=worded(N_("case %(case)s not found"), case=case_id))


def erased(action: str) -> DomainRuleViolation:
    """422: ``action`` (an ``N_``-marked phrase, "record consent") on a case whose personal
    data was erased; the phrase is worded in the reader's language with the sentence."""
    return DomainRuleViolation(
        wording=worded(
            N_("cannot %(action)s: the case's personal data was erased"), action=worded(action)
        )
    )


def not_a_member(person_id: str, case_id: str, **extensions: Any) -> DomainRuleViolation:
    """422: the person named is not (or no longer) in the case's household."""
    return DomainRuleViolation(
        wording=worded(
            N_("person %(person)s is not a member of case %(case)s"),
            person=person_id,
            case=case_id,
        ),
        **extensions,
    )
