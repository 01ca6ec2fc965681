"""The office registry: office id -> country, kind and name, shared by every service.

Which office a case belongs to decides who reads it, so the offices are not
free text: they are configuration data like the programmes, one reviewed YAML
file with a ``version`` (``offices.yaml`` in this package; ``AVRR_OFFICES``
points every service at another file), validated strictly when a service
starts. A malformed file stops the start with a message naming the field,
because a misspelt country would hand cases to the wrong office.

What follows from it: only a host or receiving office of a movement's
destination country may confirm the arrival as the receiving office and
receive the hand-over of the case (travel refuses anything else, intake and
reintegration ignore it), and only a supervisor of an office in a country may
suspend or reopen returns to it (avrr_events.web.authorization).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from avrr_events.data_files import DataFile

OfficeKind = Literal["host", "receiving", "headquarters", "partner"]
# Kinds that receive returnees: a receiving office, and a host office receiving its
# own nationals (Guatemala City receives Guatemalans coming home from Mexico).
RECEIVING_KINDS: frozenset[str] = frozenset({"host", "receiving"})
# Kinds whose supervisors speak for the safety of their country's destinations.
COUNTRY_KINDS: frozenset[str] = frozenset({"host", "receiving", "headquarters"})


def _country(code: str) -> str:
    if len(code) != 2 or not code.isupper() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[str, AfterValidator(_country)]


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt "contry" must not pass as "no country".
    model_config = ConfigDict(frozen=True, extra="forbid")


class Office(_Strict):
    """One office, as tokens (claim ``offices``) and cases (their ``office``) name it."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    country: CountryCode
    kind: OfficeKind
    name: str = Field(min_length=1, max_length=200)

    def receives_in(self, country: str) -> bool:
        """Whether this office may confirm an arrival in ``country`` and take the case over."""
        return self.country == country and self.kind in RECEIVING_KINDS


class OfficeRegistry(_Strict):
    """The whole file: a version and the offices, ids unique."""

    version: str = Field(min_length=1, max_length=50)
    offices: list[Office] = Field(min_length=1)
    _by_id: dict[str, Office] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _ids_are_unique(self) -> OfficeRegistry:
        for office in self.offices:
            if office.id in self._by_id:
                raise ValueError(f"office id {office.id!r} appears twice")
            self._by_id[office.id] = office
        return self

    def get(self, office_id: str) -> Office | None:
        return self._by_id.get(office_id)

    def receiving_office(self, office_id: str | None, country: str) -> Office | None:
        """The office ``office_id`` if it may receive a case arriving in ``country``."""
        office = self.get(office_id) if office_id else None
        return office if office is not None and office.receives_in(country) else None

    def any_in_country(self, office_ids: Iterable[str], country: str) -> bool:
        """Whether one of ``office_ids`` is an office (not a partner's) in ``country``."""
        for office_id in office_ids:
            office = self.get(office_id)
            if office is not None and office.country == country and office.kind in COUNTRY_KINDS:
                return True
        return False


class OfficeFileError(ValueError):
    """The office file cannot be used; the message names the file and the field."""


DEFAULT_OFFICES = "offices.yaml"


def load_offices(path: Path | str | None = None) -> OfficeRegistry:
    """Read and validate an office file (the packaged one when ``path`` is None).

    Cached per path: the embedded default's four services share one registry.
    """
    return _load(str(path) if path is not None else None)


OFFICE_FILE = DataFile("office file", OfficeFileError, key="offices")


@lru_cache(maxsize=8)
def _load(path: str | None) -> OfficeRegistry:
    return OFFICE_FILE.load(OfficeRegistry, "avrr_events", DEFAULT_OFFICES, path)


def parse_offices(text: str, *, name: str = "<offices>") -> OfficeRegistry:
    """Validate the YAML text of an office file."""
    return OFFICE_FILE.parse(OfficeRegistry, text, name=name)
