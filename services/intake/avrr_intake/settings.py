"""Intake's own settings (the runtime's are in avrr_events.service.ServiceSettings)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from avrr_events.service import ServiceSettings

DEV_DUPLICATE_SECRET = "avrr-development-duplicate-secret"


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    duplicate_secret: str | None = Field(
        default=None,
        validation_alias=AliasChoices("duplicate_secret", "AVRR_INTAKE_DUPLICATE_SECRET"),
        description="HMAC key of the possible-duplicate check (at least 32 characters)",
        repr=False,
    )

    def secret(self, runtime: ServiceSettings) -> bytes:
        """The HMAC key; the fixed development one only in development mode."""
        if self.duplicate_secret:
            if len(self.duplicate_secret) < 32:
                raise RuntimeError("AVRR_INTAKE_DUPLICATE_SECRET must be at least 32 characters")
            return self.duplicate_secret.encode()
        if runtime.dev:
            return DEV_DUPLICATE_SECRET.encode()
        raise RuntimeError("AVRR_INTAKE_DUPLICATE_SECRET is not set (needed outside AVRR_DEV=1)")
