"""The base of every settings class, and its one kind of field: a setting read from one variable.

Each setting is given to a process as an environment variable (``AVRR_PORT``) and
to a test or the CLI by its field name (``port=``); ``from_env`` says both once.
pydantic only, no runtime: a service's ``settings.py`` is imported by the start-up
check (``avrr_events.environment``) before anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import AliasChoices, Field, SecretStr, create_model
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class _VariablesOnly(EnvSettingsSource):
    """The environment source, reading a ``from_env`` field from its variable only.

    A field is also given by its name (``port=`` in a test), and pydantic-settings
    would look for that name in the environment too, case-insensitively: ``PORT``,
    ``HOST`` or ``LOG_LEVEL``, which hosting platforms and shells set for their own
    purposes, would then override ``AVRR_PORT``. A field without a variable keeps
    its name.
    """

    def _extract_field_info(  # pydantic-settings' hook that names a field's variables
        self, field: FieldInfo, field_name: str, model_config: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str, bool]]:
        found = super()._extract_field_info(field, field_name, model_config)
        variables = [entry for entry in found if entry[0] != field_name]
        return variables or found


class EnvironmentSettings(BaseSettings):
    """Settings from the environment; unknown variables ignored, fields also set by name."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _VariablesOnly(settings_cls), dotenv_settings, file_secret_settings)

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Self:
        """These settings from ``environ`` alone (the set-up job's, a test's), not from the
        process's: every field given by name, its variable's value or its default."""
        given: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            variable = variable_of(info)
            if variable is not None and variable in environ:
                given[name] = environ[variable]
            else:
                given[name] = info.get_default(call_default_factory=True)
        return cls(**given)


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


def variable_of(field: FieldInfo) -> str | None:
    """The environment variable a ``from_env`` field is read from (None for another field):
    the upper-case one of its two names, the other being the field's own."""
    choices = getattr(field.validation_alias, "choices", ())
    return next((c for c in choices if isinstance(c, str) and c.isupper()), None)


def secret_of(variable: str) -> SecretStr | None:
    """The secret in ``variable``, a variable named at run time (``avrr keys rewrap
    --previous-from``, ``MasterKey.from_env``): a one-field settings class of its own."""
    field = Field(default=None, validation_alias=variable, repr=False)
    model = create_model(
        "SecretSetting", __base__=EnvironmentSettings, value=(SecretStr | None, field)
    )
    value: SecretStr | None = model().value  # type: ignore[attr-defined]
    return value


def environment() -> dict[str, str]:
    """Every variable of this process, as the settings classes read them (names as given):
    what ``avrr serve``'s start-up check is handed, command-line settings laid over it."""
    variables = EnvSettingsSource(EnvironmentSettings, case_sensitive=True).env_vars
    return {name: value for name, value in variables.items() if value is not None}
