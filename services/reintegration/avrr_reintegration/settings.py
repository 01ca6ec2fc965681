"""Reintegration's own settings: where its two catalogues are read from.

pydantic only (``avrr_events.env_settings``), like every service's ``settings.py``:
the start-up check imports it before anything else. Nothing is registered with
the check: both files are optional, the packaged ones are read without them.
"""

from __future__ import annotations

from avrr_events.env_settings import EnvironmentSettings, from_env


class ReintegrationSettings(EnvironmentSettings):
    """The programme catalogue and the service directory, when not the packaged ones.

    Each field is named like its variable, so that no other variable sets it."""

    avrr_reintegration_programmes: str | None = from_env(
        "avrr_reintegration_programmes",
        "AVRR_REINTEGRATION_PROGRAMMES",
        None,
        "a YAML programme catalogue instead of the packaged programmes.yaml",
    )
    avrr_reintegration_directory: str | None = from_env(
        "avrr_reintegration_directory",
        "AVRR_REINTEGRATION_DIRECTORY",
        None,
        "a YAML service directory instead of the packaged directory.yaml",
    )
