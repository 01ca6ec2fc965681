"""Places: the one rule by which every service names, stores and compares a destination.

A destination is a country and, optionally, a region of it. Regions are typed
by people (at intake, by a supervisor suspending returns), so the same place
arrives spelled many ways: "Atlántida", "atlantida", " ATLÁNTIDA ", "HN-AT".
A suspension that one service matches and another does not is a safety hole
(a movement to a suspended region travels), so no service compares places by
itself: each asks this module for the place's key and compares keys only.

- The country is an ISO 3166-1 alpha-2 code, upper case, of a country pycountry knows.
- The region is an ISO 3166-2 subdivision of that country when the text names
  one: its code (``HN-AT`` or ``AT``) or its name, ignoring accents, case and
  spacing. The key is then the code without the country prefix (``AT``), as the
  reintegration service directory writes regions.
- Any other region text is keyed by its canonical form: Unicode NFKD, combining
  marks stripped, casefolded, whitespace collapsed (``"San  Pedro Súla"`` ->
  ``"san pedro sula"``). Canonical forms are lower case and codes upper case,
  and a text that upper-cases to a known code is that code, so the two never collide.
- The text as entered stays for display (``Place.region``); it is never compared.

The place's key is ``CC`` for a whole country and ``CC/<region key>`` for a
region. Events keep carrying the text as entered, so events written before
this rule existed still compare correctly: readers key them here on read.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import pycountry

from avrr_events.notices.catalogs import N_
from avrr_events.refusals import worded
from avrr_events.validation import InvalidValue

MAX_KEY_LENGTH = 100
"""Region keys are cut to this length (the region text itself is at most 100 characters;
NFKD and casefolding can lengthen a few characters, and columns hold 100)."""


COUNTRY_CODES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.countries))
"""Every ISO 3166-1 alpha-2 code pycountry knows: what a request's country may be, stated
as the ``enum`` of the OpenAPI documents (a pattern alone lets a client send ``AA``)."""


def not_a_country(text: str) -> InvalidValue:
    """The refusal of ``text`` as a country code (it quotes the code as entered)."""
    return InvalidValue(
        worded(N_("%(text)s is not an ISO 3166-1 alpha-2 country code"), text=repr(text))
    )


def country_code(text: str) -> str:
    """``text`` as an ISO 3166-1 alpha-2 code (upper case); ValueError if no country has it."""
    code = text.strip().upper()
    if len(code) != 2 or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
        raise not_a_country(text)
    return code


def canonical_text(text: str) -> str:
    """Text without accents, case or extra spaces: NFKD, marks stripped, casefolded, collapsed."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())[:MAX_KEY_LENGTH]


@cache
def _subdivisions(country: str) -> tuple[dict[str, str], dict[str, str]]:
    """A country's subdivisions: code suffix -> full code, and canonical name -> code suffix.

    Where two subdivisions of a country share a name (a province and its
    capital district, say), the top-level one wins, then the first code in
    order, so the answer is the same in every service and every run.
    """
    codes: dict[str, str] = {}
    by_name: dict[str, tuple[bool, str]] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():  # type: ignore[no-untyped-call]
        code = str(sub.code)
        suffix = code.split("-", 1)[1]
        codes[suffix] = code
        name = str(sub.name)
        names = {name}
        if "[" in name:  # "Illes Balears [Islas Baleares]": both names
            outer, _, inner = name.partition("[")
            names |= {outer, inner.rstrip("]")}
        rank = (getattr(sub, "parent_code", None) is not None, suffix)
        for n in names:
            key = canonical_text(n)
            if key and (key not in by_name or rank < by_name[key]):
                by_name[key] = rank
    return codes, {name: suffix for name, (_, suffix) in by_name.items()}


def subdivision(country: str, region: str) -> str | None:
    """The ISO 3166-2 code (``HN-AT``) ``region`` names in ``country``, if it names one.

    ``region`` may be the full code, the name (any accents, case or spacing),
    or the code without its country prefix, tried in that order.
    """
    codes, by_name = _subdivisions(country_code(country))
    plain = canonical_text(region)
    upper = plain.upper()
    prefix = f"{country_code(country)}-"
    if upper.startswith(prefix) and upper[len(prefix) :] in codes:
        return codes[upper[len(prefix) :]]
    if plain in by_name:
        return codes[by_name[plain]]
    return codes.get(upper)


def check_region(country: str, region: str | None) -> None:
    """ValueError when ``region`` is the ISO 3166-2 code of another country's subdivision.

    ``SV-UN`` entered for Honduras is no region of Honduras: it would be keyed
    as text, and a suspension of it would stop no case. Checked where people
    enter places (not when reading events, which are taken as they were written).
    """
    if region is None:
        return
    code = canonical_text(region).upper()
    prefix, dash, _ = code.partition("-")
    if dash and prefix != country_code(country) and len(prefix) == 2:
        found = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
        if found is not None:
            raise InvalidValue(
                worded(
                    N_("%(region)s is a region of %(prefix)s, not of %(country)s"),
                    region=repr(region.strip()),
                    prefix=prefix,
                    country=country,
                )
            )


def region_key(country: str, region: str | None) -> str | None:
    """How a region of ``country`` is compared and stored: its ISO 3166-2 code without the
    country prefix where it names a subdivision, otherwise its canonical text; None for none."""
    if region is None:
        return None
    code = subdivision(country, region)
    if code is not None:
        return code.split("-", 1)[1]
    return canonical_text(region) or None


@dataclass(frozen=True)
class Place:
    """A destination: the country, the region as entered (for display) and its key."""

    country: str
    region: str | None
    region_key: str | None

    @property
    def key(self) -> str:
        """``CC`` or ``CC/<region key>``: two spellings of one place have the same key."""
        return f"{self.country}/{self.region_key}" if self.region_key else self.country

    @property
    def region_code(self) -> str | None:
        """The ISO 3166-2 code (``HN-AT``) when the region is a known subdivision."""
        if self.region_key is None or self.region_key not in _subdivisions(self.country)[0]:
            return None
        return f"{self.country}-{self.region_key}"

    @property
    def region_name(self) -> str | None:
        """The subdivision's ISO 3166-2 name (``Atlántida``) when the region is one."""
        code = self.region_code
        if code is None:
            return None
        found = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
        return None if found is None else str(found.name)

    @property
    def label(self) -> str:
        """For people: ``CC`` or ``CC/<region as entered>`` (its spaces collapsed)."""
        if self.region is None:
            return self.country
        return f"{self.country}/{' '.join(self.region.split())}"

    def covers(self, other: Place) -> bool:
        """Whether a suspension of this place concerns ``other`` (a country covers its regions)."""
        return self.country == other.country and (
            self.region_key is None or self.region_key == other.region_key
        )


def place(country: str, region: str | None = None) -> Place:
    """The place ``country``/``region`` names (ValueError for an unknown country).

    A region of only spaces is no region: the whole country.
    """
    code = country_code(country)
    key = region_key(code, region)
    return Place(code, region if key else None, key)
