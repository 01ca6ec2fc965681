"""How one service runs, from its environment: ``ServiceSettings`` and the process role.

A service module declares *what* it is (``web.service.Service``); these settings say
*how* it runs: PostgreSQL or SQLite, Kafka or the in-process bus, its role
(``all``, ``api``, ``worker``), where the personal-data keys live.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from avrr_events import audit, environment
from avrr_events.env_settings import EnvironmentSettings, from_env
from avrr_events.personal import MasterKey

ProcessRole = Literal["all", "api", "worker"]
ROLES: tuple[ProcessRole, ...] = ("all", "api", "worker")


class RoleNotSupported(ValueError):
    """A split role asked of a runtime that cannot share its work with other processes."""


class UnsafeAuthentication(ValueError):
    """Header authentication asked of a process that shows signs of production."""


class ServerSettings(EnvironmentSettings):
    """Where and how uvicorn serves a process (``serve``, ``avrr serve``, the embedded one)."""

    host: str = from_env("host", "AVRR_HOST", "127.0.0.1")
    port: int = from_env("port", "AVRR_PORT", 8000, ge=1, le=65535)
    log_level: str = from_env("log_level", "AVRR_LOG_LEVEL", "info")
    keep_alive: int = from_env(
        "keep_alive",
        "AVRR_KEEP_ALIVE",
        75,
        "seconds an idle connection stays open: longer than the idle timeout of the "
        "clients and proxies in front (load balancers: 60 s), so that the side that "
        "closes it is the client, or a request sent as the server closes it fails",
        ge=1,
    )


class ServiceSettings(EnvironmentSettings):
    """How one service runs, from environment variables (names in ``validation_alias``)."""

    database_url: str | None = from_env(
        "database_url",
        "DATABASE_URL",
        None,
        "SQLAlchemy async URL; absent: SQLite in ./.avrr-data/<service>.db",
    )
    kafka_bootstrap_servers: str | None = from_env(
        "kafka_bootstrap_servers",
        "KAFKA_BOOTSTRAP_SERVERS",
        None,
        "absent: the in-process bus (embedded default)",
    )
    keystore_url: str | None = from_env(
        "keystore_url",
        "AVRR_KEYSTORE_URL",
        None,
        "database of the per-person keys; absent: the service's own database",
    )
    # Secrets are SecretStr: never in a repr, a log line or a validation error's input.
    master_key: SecretStr | None = from_env(
        "master_key", "AVRR_MASTER_KEY", None, "base64 32-byte key-encryption key", repr=False
    )
    audit_key: SecretStr | None = from_env(
        "audit_key",
        "AVRR_AUDIT_KEY",
        None,
        "base64 key (at least 32 bytes) of the audit log's HMAC chain, kept out of "
        "the database; absent: derived from the master key",
        repr=False,
    )
    audit_anchor_interval: float = from_env(
        "audit_anchor_interval",
        "AVRR_AUDIT_ANCHOR_INTERVAL",
        60.0,
        "seconds between two publications of the audit chain's head",
        gt=0,
    )
    dev: bool = from_env(
        "dev", "AVRR_DEV", False, "development mode: allows the fixed development master key"
    )
    dev_auth: bool | None = from_env(
        "dev_auth",
        "AVRR_DEV_AUTH",
        None,
        "header authentication stand-in; absent: on exactly when dev is on",
    )
    dev_auth_override: bool = from_env(
        "dev_auth_override",
        "AVRR_DEV_AUTH_OVERRIDE",
        False,
        "allow header authentication although a production sign is present "
        "(local development on PostgreSQL only; warned at every start)",
    )
    oidc_issuer: str | None = from_env(
        "oidc_issuer", "AVRR_OIDC_ISSUER", None, "OIDC issuer whose bearer tokens are accepted"
    )
    oidc_audience: str = from_env("oidc_audience", "AVRR_OIDC_AUDIENCE", "avrr")
    oidc_jwks_url: str | None = from_env(
        "oidc_jwks_url",
        "AVRR_OIDC_JWKS_URL",
        None,
        "absent: discovered from the issuer's openid-configuration",
    )
    topic_prefix: str = from_env(
        "topic_prefix",
        "AVRR_TOPIC_PREFIX",
        "avrr",
        "topics are <prefix>.<service>.events, the group <prefix>.<service>",
    )
    topic_partitions: int = from_env("topic_partitions", "AVRR_TOPIC_PARTITIONS", 6)
    relay_poll_interval: float = from_env("relay_poll_interval", "AVRR_RELAY_POLL", 1.0)
    role: ProcessRole = from_env(
        "role",
        "AVRR_ROLE",
        "all",
        "all: API, consumer, relays and jobs in one process; api: the REST API only; "
        "worker: consumer, relays and jobs, serving only /health/* and /metrics",
    )
    offices_file: Path | None = from_env(
        "offices_file",
        "AVRR_OFFICES",
        None,
        "YAML office registry (the same for every service); absent: the packaged one",
    )
    cors_origins: str = from_env(
        "cors_origins",
        "AVRR_CORS_ORIGINS",
        "",
        "comma-separated origins of the frontends allowed to call this API from a "
        "browser (credentials included); empty: no cross-origin calls",
    )
    path_prefix: str = from_env(
        "path_prefix",
        "AVRR_PATH_PREFIX",
        "",
        "the path under which an Ingress or HTTPRoute exposes this service (/intake); "
        "requests under it are served without it, probes and metrics never",
        pattern=r"^(/[a-z0-9-]+)?$",
    )
    migrate_on_start: bool = from_env(
        "migrate_on_start",
        "AVRR_MIGRATE_ON_START",
        False,
        "upgrade the databases to the head revision at start-up (the embedded default); "
        "otherwise a database that is not at head stops the start (run `avrr setup` first)",
    )

    @property
    def dev_auth_enabled(self) -> bool:
        return self.dev if self.dev_auth is None else self.dev_auth

    def topic(self, service: str) -> str:
        return f"{self.topic_prefix}.{service}.events"

    def check_role(self) -> None:
        """Refuse a split role without PostgreSQL and Kafka: an ``api`` process's events
        reach a ``worker`` only through a shared outbox (and its NOTIFY) and a shared bus;
        SQLite and the in-process bus are one process's own."""
        if self.role == "all":
            return
        missing = [
            what
            for what, present in (
                ("DATABASE_URL on PostgreSQL", (self.database_url or "").startswith("postgresql")),
                ("KAFKA_BOOTSTRAP_SERVERS", bool(self.kafka_bootstrap_servers)),
            )
            if not present
        ]
        if missing:
            raise RoleNotSupported(
                f"AVRR_ROLE={self.role} needs {' and '.join(missing)}: api and worker "
                "processes share the outbox and the topics; the embedded default "
                "(SQLite, in-process bus) runs every role in one process (AVRR_ROLE=all)"
            )

    def production_signs(self) -> list[str]:
        """What says this process may hold real data: a PostgreSQL database, an OIDC issuer."""
        signs = []
        if (self.database_url or "").startswith("postgresql"):
            signs.append("DATABASE_URL is PostgreSQL")
        if self.oidc_issuer:
            signs.append("AVRR_OIDC_ISSUER is set")
        return signs

    def check_authentication(self) -> str | None:
        """Refuse header authentication where real data may be; the override's warning, if any.

        Header authentication trusts whatever identity a caller claims. It is
        for the embedded default and tests; a process on PostgreSQL or with an
        OIDC issuer refuses it unless ``AVRR_DEV_AUTH_OVERRIDE=1`` says this is
        local development, and then says so at every start.
        """
        if not self.dev_auth_enabled:
            return None
        signs = self.production_signs()
        if not signs:
            return None
        which = " and ".join(signs)
        if not self.dev_auth_override:
            raise UnsafeAuthentication(
                f"AVRR_DEV_AUTH: header authentication (AVRR_DEV=1 or AVRR_DEV_AUTH=1) is refused "
                f"because {which}; unset it (chart: config.dev and config.devAuth stay false), "
                "or set AVRR_DEV_AUTH_OVERRIDE=1 for local development only"
            )
        return (
            f"AVRR_DEV_AUTH_OVERRIDE=1: header authentication is ON although {which}: "
            "any caller can claim any identity; never with real data"
        )

    def group(self, service: str) -> str:
        return f"{self.topic_prefix}.{service}"

    def public_topic(self, channel: str) -> str:
        """A public integration topic: ``<prefix>.public.<channel>`` (see public.py)."""
        return f"{self.topic_prefix}.public.{channel}"

    def audit_topic(self, service: str) -> str:
        """Where the service's audit chain heads are anchored (audit_anchor.py)."""
        return f"{self.topic_prefix}.audit.{service}"

    def audit_secret(self) -> bytes:
        """The audit chain's HMAC key: ``AVRR_AUDIT_KEY``, else derived from the master key.

        Either way it comes from the service's secrets, never from its
        database. A separate ``AVRR_AUDIT_KEY`` lets the audit key be held
        apart from the key of personal data; without it the master key (or,
        only with AVRR_DEV=1, the development key) is stretched into one
        (HKDF-SHA256), so a deployment needs no new secret.
        """
        if self.audit_key:
            key = environment.checked("AVRR_AUDIT_KEY", self.audit_key.get_secret_value())
            return audit.check_key(base64.b64decode(key, validate=True))
        if self.master_key:
            return audit.derive_key(self._master_key_bytes())
        if self.dev:
            return audit.DEV_AUDIT_KEY
        # Neither key: the master key is the one a deployment must have.
        raise environment.SettingsError.missing("AVRR_MASTER_KEY")

    def master(self) -> MasterKey:
        """The key-encryption key; the fixed development one only with AVRR_DEV=1.

        Missing or malformed: the same one-line SettingsError as at start-up
        (``environment.py``), naming the chart value that sets it."""
        if self.master_key:
            return MasterKey(self._master_key_bytes())
        if self.dev:
            return MasterKey.from_env("AVRR_MASTER_KEY", allow_dev=True)
        raise environment.SettingsError.missing("AVRR_MASTER_KEY")

    def _master_key_bytes(self) -> bytes:
        assert self.master_key is not None
        key = self.master_key.get_secret_value()
        return base64.b64decode(environment.checked("AVRR_MASTER_KEY", key))
