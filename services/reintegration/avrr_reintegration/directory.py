"""The service directory: local organisations the programmes mapped, by country and region.

Referrals of returnees go to these organisations only. The directory is data
(``directory.yaml``, or the path in ``AVRR_REINTEGRATION_DIRECTORY``) read at
start-up; regions are ISO 3166-2 subdivision codes without the country prefix
(checked on loading), and a search by region matches any spelling of it
(``MG``, ``BR-MG``, ``Minas Gerais``, ``minas gerais``) by ``avrr_events.places``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avrr_events.data_files import read_yaml
from avrr_events.places import place
from avrr_reintegration.settings import ReintegrationSettings

ServiceKind = Literal[
    "economic",
    "social",
    "psychosocial",
    "health",
    "legal",
    "documentation",
    "housing",
    "education",
    "employment",
    "protection",
]


class Organisation(BaseModel):
    """A local organisation returnees can be referred to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    programmes: tuple[str, ...] = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    region: str | None = Field(default=None, max_length=100)
    services: tuple[ServiceKind, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _region_is_a_subdivision_code(self) -> Organisation:
        if self.region is not None:
            where = place(self.country, self.region)
            if where.region_code is None or where.region_key != self.region:
                raise ValueError(
                    f"region {self.region!r} is not an ISO 3166-2 code of {self.country} "
                    "(without the country prefix)"
                )
        return self


class ServiceDirectory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organisations: tuple[Organisation, ...]

    def organisation(self, organisation_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == organisation_id), None)

    def search(
        self,
        *,
        country: str | None = None,
        region: str | None = None,
        service: str | None = None,
        programme_id: str | None = None,
    ) -> list[Organisation]:
        """Organisations matching every given filter, in directory order (a region in any
        spelling: the organisation's country decides which subdivision it names)."""
        return [
            o
            for o in self.organisations
            if (country is None or o.country == country)
            and (region is None or o.region == place(o.country, region).region_key)
            and (service is None or service in o.services)
            and (programme_id is None or programme_id in o.programmes)
        ]


def load_directory(path: str | Path | None = None) -> ServiceDirectory:
    """Read and validate the directory (the packaged one unless told otherwise)."""
    chosen = path or ReintegrationSettings().avrr_reintegration_directory or None
    raw = read_yaml("avrr_reintegration", "directory.yaml", chosen)
    return ServiceDirectory.model_validate(raw)
