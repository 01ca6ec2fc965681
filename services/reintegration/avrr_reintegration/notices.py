"""The reintegration plan as the returnee is given it, in their language (issue 19).

A summary the person keeps: what assistance the plan holds (each component in
words, with its budget), when the monitoring visits fall due, which local
organisations they were referred to, and who to contact (the receiving office
of the office registry, and the organisations of the service directory). Built
from reintegration's read models with its catalog (domain
``avrr_reintegration``).

The plan's activities are personal (a stall, a school, a treatment: encrypted
in events and read models); the route reveals them only to the roles that read
the plan (GET /cases/{case_id}/plan), and every rendering is audited there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from avrr_events.notices import (
    N_,
    Notice,
    Section,
    country_name,
    format_date,
    format_money,
    translations,
)
from avrr_events.notices.rights import rights_section
from avrr_events.notices.wording import Wording
from avrr_events.offices import Office
from avrr_events.personal import ERASED_MARKER
from avrr_reintegration.directory import Organisation

if TYPE_CHECKING:  # reintegration.py words its refusals with this module's ``worded``
    from avrr_reintegration.reintegration import Reintegration

DOMAIN = "avrr_reintegration"

# A refusal two places raise: a command on a case this service never heard of,
# and the read of its reintegration.
NO_REINTEGRATION = N_("no reintegration for case %(case)s")


def worded(message: str, **facts: object) -> Wording:
    """A reintegration sentence for a person (a refusal's detail), worded in the reader's
    language when answered; ``message`` is ``N_``-marked where it is written."""
    return Wording(DOMAIN, message, facts)


_KINDS = {
    "economic": N_("Economic support"),
    "social": N_("Social support"),
    "psychosocial": N_("Psychosocial support"),
}
_DECISIONS = {
    "granted": N_("granted"),
    "waitlisted": N_("on the waiting list"),
    "not_offered": N_("not offered"),
}
_SERVICES = {
    "economic": N_("economic"),
    "social": N_("social"),
    "psychosocial": N_("psychosocial"),
    "health": N_("health"),
    "legal": N_("legal"),
    "documentation": N_("documentation"),
    "housing": N_("housing"),
    "education": N_("education"),
    "employment": N_("employment"),
    "protection": N_("protection"),
}


def person_languages(case: Reintegration) -> tuple[str, ...]:
    """The languages the returnee reads, as intake recorded them (through travel's arrival)."""
    return case.languages


@dataclass(frozen=True)
class PlanFacts:
    """What the summary is made of, as the read models hold it (activities revealed)."""

    case: Mapping[str, Any]
    visits: Sequence[Mapping[str, Any]]
    referred_to: Sequence[Organisation]
    office: Office | None


def plan_summary(facts: PlanFacts, language: str) -> Notice:
    """The reintegration plan summary of a case in ``language``."""
    t = translations(DOMAIN, language).gettext
    case = facts.case
    rows = [
        (t(N_("Case")), str(case["case_id"])),
        (t(N_("Programme")), str(case["programme_id"])),
        (t(N_("Reintegration assistance")), t(_DECISIONS[case["decision"]])),
    ]
    if case.get("arrived_on"):
        rows.append((t(N_("Arrived on")), format_date(case["arrived_on"], language)))
    if case.get("destination_country"):
        where = country_name(case["destination_country"], language)
        if case.get("destination_region"):
            where = f"{case['destination_region']} ({where})"
        rows.append((t(N_("Place of return")), where))
    sections = [_plan(case, language, t), _visits(facts.visits, language, t)]
    sections.append(_contacts(facts, language, t))
    voluntary = N_("Taking part is voluntary: you may stop at any time.")
    sections.append(rights_section(language, t(voluntary)))
    return Notice(
        language=language,
        title=t(N_("Your reintegration plan")),
        rows=tuple(rows),
        sections=tuple(sections),
        footer=t(N_("Reintegration plan, case %(case)s")) % {"case": case["case_id"]},
    )


def _plan(case: Mapping[str, Any], language: str, t: Callable[[str], str]) -> Section:
    heading = t(N_("Assistance in your plan"))
    components = case.get("plan")
    if not components:
        return Section(
            heading,
            (t(N_("No plan is agreed yet: your reintegration officer will prepare it with you.")),),
        )
    rows = []
    for component in components:
        activity = component["activity"]
        if activity == ERASED_MARKER or not isinstance(activity, str):
            activity = t(N_("(no longer recorded)"))
        budget = component["budget"]
        money = format_money(budget["amount"], budget["currency"], language)
        line = t(N_("%(activity)s: %(budget)s")) % {"activity": activity, "budget": money}
        rows.append((t(_KINDS[component["kind"]]), line))
    paragraphs = [
        t(N_("Agreed on %(day)s.")) % {"day": format_date(case["plan_agreed_at"], language)}
    ]
    if case.get("plan_total") is not None and case.get("plan_currency"):
        total = format_money(case["plan_total"], case["plan_currency"], language)
        paragraphs.append(t(N_("Total budget of the plan: %(total)s.")) % {"total": total})
    return Section(heading, tuple(paragraphs), tuple(rows))


def _visits(visits: Sequence[Mapping[str, Any]], language: str, t: Callable[[str], str]) -> Section:
    heading = t(N_("Monitoring visits"))
    if not visits:
        return Section(heading, (t(N_("No monitoring visit is scheduled.")),))
    rows = []
    for visit in visits:
        due: date = visit["due_on"]
        when = format_date(due, language)
        if visit.get("visited_on"):
            when = t(N_("%(due)s (visited on %(day)s)")) % {
                "due": when,
                "day": format_date(visit["visited_on"], language),
            }
        label = t(N_("After %(months)d months")) % {"months": visit["due_month"]}
        if visit["due_month"] == 1:
            label = t(N_("After 1 month"))
        rows.append((label, when))
    return Section(
        heading,
        (
            t(
                N_(
                    "Your reintegration officer visits you, or calls you, to see how you are "
                    "doing and whether the plan needs to change:"
                )
            ),
        ),
        tuple(rows),
    )


def _contacts(facts: PlanFacts, language: str, t: Callable[[str], str]) -> Section:
    rows = []
    if facts.office is not None:
        rows.append((t(N_("Your reintegration office")), facts.office.name))
    for organisation in facts.referred_to:
        services = ", ".join(t(_SERVICES[s]) for s in organisation.services)
        rows.append((organisation.name, services))
    paragraphs: tuple[str, ...] = ()
    if facts.referred_to:
        paragraphs = (t(N_("You were referred to these organisations:")),)
    return Section(t(N_("Who to contact")), paragraphs, tuple(rows))
