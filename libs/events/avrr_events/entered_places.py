"""A destination as a person enters it in a request body: its region checked against its country.

Intake (a return request) and eligibility (a supervisor's suspension) both take a
country and a region typed by someone; a region that is another country's ISO
3166-2 code (``SV-UN`` for Honduras) would be keyed as text and compared with
nothing (``avrr_events.places.check_region``), so both refuse it the same way.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationInfo, field_validator

from avrr_events.places import check_region


class EnteredDestination(BaseModel):
    """A body whose ``destination_region`` (declared after ``destination_country``) must not
    be another country's subdivision: 422 naming ``destination_region``."""

    @field_validator("destination_region", check_fields=False)
    @classmethod
    def _region_of_the_country(cls, region: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("destination_country")
        if country is not None:
            check_region(country, region)
        return region
