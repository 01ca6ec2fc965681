"""Return programmes as data, and the eligibility rules evaluated against them.

A programme (who it serves, where, to which destinations, how they travel,
what assistance it offers, its limits) is configuration, not code: a new
programme or a changed rule is a reviewed edit of ``programmes.yaml``, shipped
with a new ``version``. The file is validated strictly when the service
starts; a malformed file stops the start with a message naming the field,
because a silently ignored typo would wrongly accept or refuse real people.

Every decision carries one outcome per rule, worded for a caseworker to read
out to the person ("... assists people stranded in Guatemala or Mexico; you
are in Costa Rica"), because an assessment the person cannot understand is
not an informed decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avrr_eligibility.countries import EU_MEMBER_STATES, CountryCode, country_name
from avrr_events.data_files import DataFile

TransportMode = Literal["air", "land"]

Assistance = Literal[
    "information_and_counselling",
    "psychosocial_support",
    "travel_documents",
    "medical_examination",
    "medical_escort",
    "lodging",
    "food_and_kits",
    "cash_based_intervention",
    "family_contact",
    "transport",
    "covid_test",
    "departure_assistance",
    "transit_assistance",
    "arrival_assistance",
    "referral_to_services",
    "reintegration",
    "reintegration_monitoring",
]


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt "host_contries" must not pass as "no hosts".
    model_config = ConfigDict(frozen=True, extra="forbid")


class AnyNationality(_Strict):
    """Open to any nationality (other than the host country's own nationals)."""

    rule: Literal["any"]


class ListedNationalities(_Strict):
    rule: Literal["listed"]
    countries: list[CountryCode] = Field(min_length=1)


class NonEuNationality(_Strict):
    """Nationals of countries outside the European Union (ARVoRe)."""

    rule: Literal["non_eu"]


NationalityRule = Annotated[
    AnyNationality | ListedNationalities | NonEuNationality, Field(discriminator="rule")
]


class AnyDestination(_Strict):
    rule: Literal["any"]


class ListedDestinations(_Strict):
    rule: Literal["listed"]
    countries: list[CountryCode] = Field(min_length=1)


DestinationRule = Annotated[AnyDestination | ListedDestinations, Field(discriminator="rule")]


class Transport(_Strict):
    mode: TransportMode
    to: Literal["capital", "airport_nearest_city_of_return", "city_of_return"]
    # The caravan programme returned unaccompanied children by air, not by bus.
    unaccompanied_children_mode: TransportMode | None = None


class Money(_Strict):
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class ReintegrationLimit(_Strict):
    """Reintegration assistance for a limited number of people (read by reintegration)."""

    places: int = Field(ge=0)
    budget: Money
    allocation: Literal["by_vulnerability", "first_come_first_served"]
    monitoring_months: int = Field(ge=0, le=60)


class Limits(_Strict):
    max_household_size: int | None = Field(default=None, ge=1)
    reintegration: ReintegrationLimit | None = None


class Programme(_Strict):
    """One return programme, as the caseworker and the rules see it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=80, description="short: it starts reasons")
    full_name: str = ""
    description: str = ""
    active: bool = True
    valid_from: date | None = None
    valid_until: date | None = None
    eligible_nationalities: NationalityRule
    host_countries: list[CountryCode] = Field(min_length=1)
    destinations: DestinationRule
    transport: Transport
    assistance: list[Assistance] = Field(min_length=1)
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _period_is_ordered(self) -> Programme:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def transport_mode(self, *, unaccompanied_child: bool) -> TransportMode:
        if unaccompanied_child and self.transport.unaccompanied_children_mode:
            return self.transport.unaccompanied_children_mode
        return self.transport.mode


class ProgrammeCatalogue(_Strict):
    """The whole file: a version (exposed by the API, stamped on decisions) and the programmes."""

    version: str = Field(min_length=1, max_length=50)
    programmes: list[Programme] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_are_unique(self) -> ProgrammeCatalogue:
        seen: set[str] = set()
        for p in self.programmes:
            if p.id in seen:
                raise ValueError(f"programme id {p.id!r} appears twice")
            seen.add(p.id)
        return self

    def get(self, programme_id: str) -> Programme | None:
        return next((p for p in self.programmes if p.id == programme_id), None)


class ProgrammeFileError(ValueError):
    """The programme file cannot be used; the message names the file and the field."""


DEFAULT_PROGRAMMES = "programmes.yaml"


# Discriminated unions add the tag ("listed") to an error's path: not a field.
PROGRAMME_FILE = DataFile("programme file", ProgrammeFileError, key="programmes", tag="rule")


def load_programmes(path: Path | str | None = None) -> ProgrammeCatalogue:
    """Read and validate a programme file (the packaged seed file when ``path`` is None)."""
    return PROGRAMME_FILE.load(ProgrammeCatalogue, "avrr_eligibility", DEFAULT_PROGRAMMES, path)


def parse_programmes(text: str, *, name: str = "<programmes>") -> ProgrammeCatalogue:
    """Validate the YAML text of a programme file."""
    return PROGRAMME_FILE.parse(ProgrammeCatalogue, text, name=name)


# ------------------------------------------------------------------ rules --


class RuleOutcome(BaseModel):
    """One rule of one programme, whether it passed, and why, in plain words."""

    model_config = ConfigDict(frozen=True)

    rule: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ReturnRequest:
    """The facts of a return request that the programme rules look at."""

    nationality: str
    host_country: str
    destination_country: str
    requested_on: date
    household_size: int = 1
    programme_hint: str | None = None


@dataclass(frozen=True)
class Decision:
    programme: Programme | None
    eligible: bool
    reasons: list[RuleOutcome]


@dataclass(frozen=True)
class Wording:
    """How a reason is worded: a catalogue's gettext, and country names, lists and dates
    in its language. ``ENGLISH`` words the reasons that events record (the msgids
    themselves, pycountry's names, ISO dates); a notice words them again in the person's
    language from the same rules (avrr_eligibility.notices)."""

    gettext: Callable[[str], str] = str
    country: Callable[[str], str] = country_name
    either: Callable[[Sequence[str]], str] | None = None
    day: Callable[[date], str] = date.isoformat

    def countries(self, codes: Sequence[str]) -> str:
        """Countries in alphabetical order, joined with "or"."""
        names = sorted(self.country(c) for c in codes)
        if self.either is not None:
            return self.either(names)
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


ENGLISH = Wording()


def _(message: str) -> str:
    """Marks a reason's msgid for extraction; a Wording's gettext translates it."""
    return message


Verdict = tuple[bool, str]
"""Whether one rule passed, and why: the sentence the caseworker reads out to the person."""


def _in_operation(p: Programme, r: ReturnRequest, w: Wording) -> Verdict:
    t = w.gettext
    if not p.active:
        return False, t(_("%(programme)s is not accepting new requests.")) % {"programme": p.name}
    if p.valid_from and r.requested_on < p.valid_from:
        return False, t(_("%(programme)s only starts on %(day)s.")) % {
            "programme": p.name,
            "day": w.day(p.valid_from),
        }
    if p.valid_until and r.requested_on > p.valid_until:
        return False, t(_("%(programme)s ended on %(day)s.")) % {
            "programme": p.name,
            "day": w.day(p.valid_until),
        }
    return True, t(_("%(programme)s is accepting requests.")) % {"programme": p.name}


def _host_country(p: Programme, r: ReturnRequest, w: Wording) -> Verdict:
    t = w.gettext
    facts = {"programme": p.name, "served": w.countries(p.host_countries)}
    facts["host"] = w.country(r.host_country)
    if r.host_country in p.host_countries:
        return True, t(
            _("%(programme)s assists people in %(served)s; the person is in %(host)s.")
        ) % (facts)
    return False, t(
        _("%(programme)s only assists people who are in %(served)s, and the person is in %(host)s.")
    ) % facts


def _nationality(p: Programme, r: ReturnRequest, w: Wording) -> Verdict:
    t = w.gettext
    # Whatever the programme, a national of the host country is not a migrant returning.
    if r.nationality == r.host_country:
        return False, t(
            _(
                "The person is a national of %(host)s, the country they are in: assisted "
                "voluntary return is for migrants outside their own country."
            )
        ) % {"host": w.country(r.host_country)}
    facts = {"programme": p.name, "nationality": w.country(r.nationality)}
    nat = p.eligible_nationalities
    if isinstance(nat, ListedNationalities):
        facts["who"] = w.countries(nat.countries)
        if r.nationality in nat.countries:
            return True, t(
                _(
                    "%(programme)s is for nationals of %(who)s; the person is a national of "
                    "%(nationality)s."
                )
            ) % facts
        return False, t(
            _(
                "%(programme)s is only for nationals of %(who)s, and the person is a national "
                "of %(nationality)s."
            )
        ) % facts
    if isinstance(nat, NonEuNationality):
        if r.nationality in EU_MEMBER_STATES:
            return False, t(
                _(
                    "%(programme)s is only for nationals of countries outside the European "
                    "Union, and %(nationality)s is an EU member state."
                )
            ) % facts
        return True, t(
            _(
                "%(programme)s is for nationals of countries outside the European Union; "
                "%(nationality)s is outside the EU."
            )
        ) % facts
    return True, t(_("%(programme)s is open to nationals of %(nationality)s.")) % facts


# How a programme takes people home, by where it takes them and how (Transport).
_JOURNEYS: dict[tuple[str, str], str] = {
    ("capital", "air"): _("by air transport to the capital"),
    ("capital", "land"): _("by land transport to the capital"),
    ("airport_nearest_city_of_return", "air"): _(
        "by air to the airport nearest the city of return"
    ),
    ("airport_nearest_city_of_return", "land"): _(
        "by air to the airport nearest the city of return"
    ),
    ("city_of_return", "air"): _("by air transport to the city of return"),
    ("city_of_return", "land"): _("by land transport to the city of return"),
}


def _destination(p: Programme, r: ReturnRequest, w: Wording) -> Verdict:
    t = w.gettext
    facts = {"programme": p.name, "destination": w.country(r.destination_country)}
    if r.destination_country == r.host_country:
        return False, t(
            _("The destination, %(destination)s, is the country the person is already in.")
        ) % facts
    dest = p.destinations
    if isinstance(dest, ListedDestinations) and r.destination_country not in dest.countries:
        facts["served"] = w.countries(dest.countries)
        return False, t(
            _(
                "%(programme)s only returns people to %(served)s, and the requested "
                "destination is %(destination)s."
            )
        ) % facts
    facts["how"] = t(_JOURNEYS[p.transport.to, p.transport.mode])
    return True, t(_("%(programme)s can return the person to %(destination)s %(how)s.")) % facts


def _household_size(p: Programme, r: ReturnRequest, w: Wording) -> Verdict | None:
    limit = p.limits.max_household_size
    if limit is None:
        return None  # no limit in the programme: no rule to report
    return r.household_size <= limit, w.gettext(
        _(
            "%(programme)s assists households of up to %(limit)d people; this household "
            "has %(size)d."
        )
    ) % {"programme": p.name, "limit": limit, "size": r.household_size}


RULES: tuple[tuple[str, Callable[[Programme, ReturnRequest, Wording], Verdict | None]], ...] = (
    ("in_operation", _in_operation),
    ("host_country", _host_country),
    ("nationality", _nationality),
    ("destination", _destination),
    ("household_size", _household_size),
)
"""Every rule, by name, in the order a decision reports them; a rule that answers None
does not apply to the programme."""


def evaluate(
    programme: Programme, request: ReturnRequest, wording: Wording = ENGLISH
) -> list[RuleOutcome]:
    """Every rule of ``programme`` applied to ``request``, in a fixed order."""
    out: list[RuleOutcome] = []
    for name, check in RULES:
        verdict = check(programme, request, wording)
        if verdict is not None:
            passed, detail = verdict
            out.append(RuleOutcome(rule=f"{programme.id}/{name}", passed=passed, detail=detail))
    return out


def decide(
    catalogue: ProgrammeCatalogue, request: ReturnRequest, wording: Wording = ENGLISH
) -> Decision:
    """The programme the request is eligible for, with the reasons.

    A known ``programme_hint`` (the caseworker's choice at intake) is the only
    programme evaluated. Otherwise programmes are tried in file order (the
    more specific ones come first in the file) and the first one whose every
    rule passes is chosen. When none is, the reasons are those of every
    programme operating in the person's host country, so the caseworker can
    say exactly what is missing; when none operates there, one reason says so.
    """
    hinted = catalogue.get(request.programme_hint) if request.programme_hint else None
    candidates = [hinted] if hinted else catalogue.programmes
    evaluated: list[tuple[Programme, list[RuleOutcome]]] = []
    for programme in candidates:
        outcomes = evaluate(programme, request, wording)
        if all(o.passed for o in outcomes):
            return Decision(programme, True, outcomes)
        evaluated.append((programme, outcomes))
    if hinted:
        return Decision(hinted, False, evaluated[0][1])
    local = [(p, o) for p, o in evaluated if request.host_country in p.host_countries]
    if len(local) == 1:
        return Decision(local[0][0], False, local[0][1])
    if local:
        return Decision(None, False, [o for _, outcomes in local for o in outcomes])
    everywhere = sorted({c for p in catalogue.programmes for c in p.host_countries})
    return Decision(
        None,
        False,
        [
            RuleOutcome(
                rule="host_country",
                passed=False,
                detail=wording.gettext(
                    _(
                        "No return programme assists people in %(host)s at the moment; "
                        "programmes operate in %(served)s."
                    )
                )
                % {
                    "host": wording.country(request.host_country),
                    "served": wording.countries(everywhere),
                },
            )
        ],
    )
