"""Eligibility's own settings (the runtime's are in avrr_events.settings.ServiceSettings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from avrr_events import environment


class EligibilitySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    programmes_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("programmes_file", "AVRR_ELIGIBILITY_PROGRAMMES"),
        description="YAML programme file; absent: the seed programmes shipped in the package",
    )


environment.register(
    "eligibility",
    environment.Variable(
        "AVRR_ELIGIBILITY_PROGRAMMES",
        environment.extra_env("AVRR_ELIGIBILITY_PROGRAMMES"),
        environment.ReadableFile(),
    ),
    models=[EligibilitySettings],
)
