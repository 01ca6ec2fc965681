"""Which escorts a household's vulnerabilities require: one table for the ticket and the group.

Eligibility's vulnerability screening (``avrr.eligibility.VulnerabilityAssessed``) names
unaccompanied or separated children, victims of trafficking and people with health needs;
travel keeps those codes on the movement's travellers (``VulnerabilityScreeningNoted``),
because a screened need is a safety rule of the journey: the ticket is not issued without
the escort the rules require, whatever the fitness-to-travel outcome says (a doctor's "fit"
says nothing about a trafficker waiting at the airport).

The rules are travel's own (``ESCORT_RULES``, one table for every programme until a
programme's rules name their own): the escort kinds that may escort each need, and for
group movements (group.py) the ratio, one escort per ``per`` people with that need. For a
household's own ticket one escort of a fitting kind escorts all its travellers with that
need; ratios are the group's rule, where many households share the escorts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from avrr_events.notices import N_

if TYPE_CHECKING:
    from avrr_travel.movement import EscortKind, Traveller

# Eligibility's spellings (VulnerabilityCategoryName); the other categories need no escort.
Need = Literal["unaccompanied_or_separated_child", "victim_of_trafficking", "health_needs"]
NEEDS: frozenset[str] = frozenset(get_args(Need))


@dataclass(frozen=True)
class EscortRule:
    """Escorted by any escort of ``kinds``; in a group, one such escort per ``per`` people."""

    kinds: frozenset[EscortKind]
    per: int
    # The 422's requirement code and sentence when the escort is missing (one per person): a
    # catalog message, worded in the reader's language in the refusal's detail.
    requirement: str
    detail: str


# IOM movement practice: children and victims of trafficking travel with trained staff (small
# ratios); a person with health needs with a medical escort.
ESCORT_RULES: Mapping[Need, EscortRule] = {
    "unaccompanied_or_separated_child": EscortRule(
        frozenset({"operational", "medical"}),
        per=3,
        requirement="escort",
        detail=N_("an unaccompanied child travels only with an operational or medical escort"),
    ),
    "victim_of_trafficking": EscortRule(
        frozenset({"operational"}),
        per=2,
        requirement="escort",
        detail=N_("screened as a victim of trafficking: travels only with an operational escort"),
    ),
    "health_needs": EscortRule(
        frozenset({"medical"}),
        per=4,
        requirement="medical_escort",
        detail=N_("screened with health needs: travels only with a medical escort"),
    ),
}
# Fitness "fit_with_escort" is a health need too, in the doctor's words.
FIT_WITH_ESCORT = N_("fit to travel only with a medical escort")


def escort_needs_of(codes: Iterable[str]) -> frozenset[Need]:
    """The screened categories that call for an escort (the others are ignored)."""
    return frozenset(c for c in codes if c in NEEDS)  # type: ignore[misc]


def traveller_needs(travellers: Mapping[str, Traveller]) -> dict[str, dict[Need, str]]:
    """Each traveller's needs for an escort, with the sentence that says why.

    From the screening, intake's unaccompanied flag, a minor travelling without an adult of
    the household (unaccompanied even if intake did not flag it), and a fitness outcome of
    fit_with_escort. Travellers with no need are left out.
    """
    adults = any(not t.member.is_minor for t in travellers.values())
    found: dict[str, dict[Need, str]] = {}
    for pid, t in travellers.items():
        needs: dict[Need, str] = {}
        if t.fitness is not None and t.fitness.outcome == "fit_with_escort":
            needs["health_needs"] = FIT_WITH_ESCORT
        if t.member.unaccompanied_minor or (t.member.is_minor and not adults):
            needs["unaccompanied_or_separated_child"] = ESCORT_RULES[
                "unaccompanied_or_separated_child"
            ].detail
        for need in sorted(t.vulnerabilities):
            needs.setdefault(need, ESCORT_RULES[need].detail)
        if needs:
            found[pid] = needs
    return found


def escort_needs(travellers: Mapping[str, Traveller]) -> Counter[Need]:
    """How many people of a household need each kind of escort (a group's ratios count these)."""
    return Counter(n for needs in traveller_needs(travellers).values() for n in needs)


def unescorted(
    travellers: Mapping[str, Traveller], kinds: Iterable[EscortKind]
) -> list[tuple[str, str, str]]:
    """(requirement, sentence, person_id) for every need no escort of ``kinds`` escorts."""
    booked = set(kinds)
    return [
        (ESCORT_RULES[need].requirement, why, pid)
        for pid, needs in traveller_needs(travellers).items()
        for need, why in needs.items()
        if not ESCORT_RULES[need].kinds & booked
    ]
