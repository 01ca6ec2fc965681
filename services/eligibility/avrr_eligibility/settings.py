"""Eligibility's own settings (the runtime's are in avrr_events.settings.ServiceSettings)."""

from __future__ import annotations

from pathlib import Path

from avrr_events import environment
from avrr_events.env_settings import EnvironmentSettings, from_env


class EligibilitySettings(EnvironmentSettings):
    programmes_file: Path | None = from_env(
        "programmes_file",
        "AVRR_ELIGIBILITY_PROGRAMMES",
        None,
        "YAML programme file; absent: the seed programmes shipped in the package",
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
