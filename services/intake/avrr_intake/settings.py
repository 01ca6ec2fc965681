"""Intake's own settings (the runtime's are in avrr_events.settings.ServiceSettings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from avrr_events import environment
from avrr_events.env_settings import EnvironmentSettings, from_env

if TYPE_CHECKING:  # the start-up check imports this module before the runtime
    from avrr_events.settings import ServiceSettings

DEV_DUPLICATE_SECRET = "avrr-development-duplicate-secret"
DUPLICATE_SECRET_CHARACTERS = 32
# The largest attachment limit a deployment may set: uploads are held in memory while checked.
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024


class IntakeSettings(EnvironmentSettings):
    duplicate_secret: SecretStr | None = from_env(
        "duplicate_secret",
        "AVRR_INTAKE_DUPLICATE_SECRET",
        None,
        "HMAC key of the possible-duplicate check (at least 32 characters)",
        repr=False,
    )

    # Retention (retention.py): how long after a case's closure its people's data is kept.
    retention_days: float = from_env(
        "retention_days",
        "AVRR_RETENTION_DAYS",
        1825.0,
        "days after a case's closure until its personal data is crypto-shredded "
        "(default 5 years; fractions allowed, for tests)",
        gt=0,
    )
    retention_sweep_interval: float = from_env(
        "retention_sweep_interval",
        "AVRR_RETENTION_SWEEP_INTERVAL",
        3600.0,
        "seconds between two looks for cases whose retention period is over",
        gt=0,
    )
    retention_batch: int = from_env(
        "retention_batch", "AVRR_RETENTION_BATCH", 500, "cases erased at most per sweep", ge=1
    )

    # Case attachments (attachments.py): files are kept in PostgreSQL, sealed per person.
    attachment_max_bytes: int = from_env(
        "attachment_max_bytes",
        "AVRR_ATTACHMENT_MAX_BYTES",
        10 * 1024 * 1024,
        "largest file attached to a case, in bytes (default 10 MB; at most 100 MB): "
        "a larger one is refused with 413",
        ge=1,
        le=MAX_ATTACHMENT_BYTES,
    )

    # Where the sealed bytes rest: PostgreSQL (the default), or an S3-compatible object store.
    attachment_store: Literal["database", "s3"] = from_env(
        "attachment_store",
        "AVRR_ATTACHMENT_STORE",
        "database",
        "where attachments' sealed bytes rest: database (PostgreSQL bytea, the default) or s3",
    )
    attachment_s3_endpoint: str | None = from_env(
        "attachment_s3_endpoint",
        "AVRR_ATTACHMENT_S3_ENDPOINT",
        None,
        "the S3-compatible endpoint (http://host:port); none: AWS S3 of the region",
    )
    attachment_s3_bucket: str = from_env(
        "attachment_s3_bucket", "AVRR_ATTACHMENT_S3_BUCKET", "avrr-attachments", "the bucket"
    )
    attachment_s3_region: str = from_env(
        "attachment_s3_region", "AVRR_ATTACHMENT_S3_REGION", "us-east-1", "the bucket's region"
    )
    attachment_s3_access_key_id: SecretStr | None = from_env(
        "attachment_s3_access_key_id",
        "AVRR_ATTACHMENT_S3_ACCESS_KEY_ID",
        None,
        "the object store's access key id",
        repr=False,
    )
    attachment_s3_secret_access_key: SecretStr | None = from_env(
        "attachment_s3_secret_access_key",
        "AVRR_ATTACHMENT_S3_SECRET_ACCESS_KEY",
        None,
        "the object store's secret access key",
        repr=False,
    )

    def secret(self, runtime: ServiceSettings) -> bytes:
        """The HMAC key; the fixed development one only in development mode."""
        if self.duplicate_secret:
            secret = self.duplicate_secret.get_secret_value()
            return environment.checked(DUPLICATE_SECRET.name, secret, "intake").encode()
        if runtime.dev:
            return DEV_DUPLICATE_SECRET.encode()
        raise environment.SettingsError.missing(DUPLICATE_SECRET.name, "intake")


# Checked at start (avrr_events.environment) before the service is even imported:
# needed outside development mode by the API and the worker, not by `avrr setup`.
DUPLICATE_SECRET = environment.Variable(
    "AVRR_INTAKE_DUPLICATE_SECRET",
    "secrets.values.AVRR_INTAKE_DUPLICATE_SECRET (or the key AVRR_INTAKE_DUPLICATE_SECRET of "
    "secrets.existingSecret; services.intake.secretEnv lists it)",
    environment.Text(min_length=DUPLICATE_SECRET_CHARACTERS),
    required=lambda start: start.command == "serve" and not start.dev,
)
environment.register("intake", DUPLICATE_SECRET, models=[IntakeSettings])
