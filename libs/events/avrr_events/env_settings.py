"""The base of every settings class, and its one kind of field: a setting read from one variable.

Each setting is given to a process as an environment variable (``AVRR_PORT``) and
to a test or the CLI by its field name (``port=``); ``from_env`` says both once.
pydantic only, no runtime: a service's ``settings.py`` is imported by the start-up
check (``avrr_events.environment``) before anything else.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnvironmentSettings(BaseSettings):
    """Settings from the environment; unknown variables ignored, fields also set by name."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)


def from_env(
    name: str, variable: str, default: Any, description: str | None = None, **constraints: Any
) -> Any:
    """The field ``name``, read from the environment variable ``variable`` (or given as
    ``name``); ``constraints`` are pydantic's (``ge=1``, ``pattern=``, ``repr=False``)."""
    return Field(
        default=default,
        validation_alias=AliasChoices(name, variable),
        description=description,
        **constraints,
    )
