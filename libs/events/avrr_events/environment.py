"""The environment a process starts with: each variable, the chart value that sets it, its check.

Every setting reaches a service as an environment variable, and on Kubernetes
every variable comes from a value of the Helm chart (deploy/helm/avrr). This
module is the one table of both: ``VARIABLES`` (the library's), plus what a
service's own ``settings.py`` adds with ``register`` (intake's duplicate
secret, eligibility's programme file). ``python -m avrr_events.serve`` and
``python -m avrr_events.setup`` call ``exit_on_bad_settings`` before they log,
import a service's runtime or connect to anything: a variable the process
needs that is missing, or one whose value cannot work, stops it with exit
status 1 and one line on stderr naming the variable, what is wrong and the
chart value that sets it. A value is never echoed (most are secrets or hold
passwords).

The checks here use the standard library only, so that they run first; a
setting that pydantic reads and this table does not check is still reported
in one line (``from_validation_error``).
"""

from __future__ import annotations

import base64
import binascii
import importlib
import importlib.util
import logging
import re
import ssl
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

Command = Literal["serve", "setup"]
ROLES = ("all", "api", "worker")  # service.ROLES, known here without importing the runtime
TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


@dataclass(frozen=True)
class Start:
    """The process being started: its command, service and role, and its environment."""

    command: Command
    service: str
    environ: Mapping[str, str]
    role: str | None = None  # --role; absent: AVRR_ROLE, else all

    def flag(self, name: str) -> bool:
        return self.environ.get(name, "").strip().lower() in TRUE

    @property
    def dev(self) -> bool:
        return self.flag("AVRR_DEV")

    @property
    def process_role(self) -> str:
        return self.role or self.environ.get("AVRR_ROLE", "").strip() or "all"

    @property
    def split(self) -> bool:
        return self.command == "serve" and self.process_role != "all"

    @property
    def kafka(self) -> bool:
        return bool(self.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip())

    @property
    def sasl(self) -> bool:
        protocol = self.environ.get("KAFKA_SECURITY_PROTOCOL", "").strip().upper()
        return self.kafka and protocol.startswith("SASL")


# ------------------------------------------------------------------ checks --
# Each check answers why a (non-empty) value cannot work, or None; ``refused``
# is one value it refuses, for the tests that start processes with it.


@dataclass(frozen=True)
class Check:
    refused: str = field(default="?", kw_only=True)

    def __call__(self, value: str) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Key(Check):
    """base64 of ``size`` random bytes (exactly, or at least with ``at_least``)."""

    size: int = 32
    at_least: bool = False
    refused: str = field(default="c2hvcnQ=", kw_only=True)  # base64 of 5 bytes

    def __call__(self, value: str) -> str | None:
        try:
            key = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return (
                f"not base64 (generate {self.size} bytes with `openssl rand -base64 {self.size}`)"
            )
        if len(key) < self.size or (len(key) != self.size and not self.at_least):
            wanted = f"at least {self.size}" if self.at_least else f"exactly {self.size}"
            return f"base64 of {len(key)} bytes, not of {wanted}"
        return None


@dataclass(frozen=True)
class DatabaseUrl(Check):
    """An SQLAlchemy URL with an asyncio driver the image has (database.Database)."""

    schemes: tuple[str, ...] = ("postgresql+asyncpg", "sqlite+aiosqlite")
    refused: str = field(
        default="postgresql://avrr@postgres/avrr", kw_only=True
    )  # no asyncio driver

    def __call__(self, value: str) -> str | None:
        scheme, sep, rest = value.strip().partition("://")
        if not sep:
            return "not a URL (postgresql+asyncpg://user:password@host:5432/database)"
        if scheme not in self.schemes:
            return f"its scheme must be one of {', '.join(self.schemes)}, not {scheme!r}"
        if scheme.startswith("postgresql"):
            try:
                parts = urlsplit(value.strip())
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError as exc:
                return f"not a URL ({exc})"
            if not parts.hostname or not parts.path.strip("/"):
                return "it names no host or no database"
        elif not rest.startswith("/"):
            return "not a SQLite URL (sqlite+aiosqlite:///path/to/file.db)"
        return None


@dataclass(frozen=True)
class HttpUrl(Check):
    refused: str = field(default="login.example.org/realms/avrr", kw_only=True)  # no scheme

    def __call__(self, value: str) -> str | None:
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            return f"not a URL ({exc})"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "not an http(s) URL with a host"
        return None


@dataclass(frozen=True)
class Origins(Check):
    """Comma-separated browser origins: scheme and host, no path."""

    refused: str = field(default="caseworker.example.org/app", kw_only=True)

    def __call__(self, value: str) -> str | None:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if not re.fullmatch(r"https?://[^/,\s]+", origin):
                return f"{origin!r} is not an origin (https://host[:port], no path)"
        return None


@dataclass(frozen=True)
class Servers(Check):
    """Comma-separated host:port pairs (Kafka's bootstrap servers)."""

    refused: str = field(default="kafka-0.example.org", kw_only=True)  # no port

    def __call__(self, value: str) -> str | None:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            return "no host:port in it"
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                return f"{server!r} is not host:port"
        return None


@dataclass(frozen=True)
class Choice(Check):
    values: tuple[str, ...] = ()
    case_sensitive: bool = False
    refused: str = field(default="BOGUS", kw_only=True)

    def __call__(self, value: str) -> str | None:
        given = value.strip() if self.case_sensitive else value.strip().upper()
        allowed = self.values if self.case_sensitive else tuple(v.upper() for v in self.values)
        if given not in allowed:
            return f"not one of {', '.join(self.values)}"
        return None


@dataclass(frozen=True)
class Flag(Check):
    refused: str = field(default="maybe", kw_only=True)

    def __call__(self, value: str) -> str | None:
        if value.strip().lower() not in TRUE | FALSE:
            return "not a boolean (1 or 0, true or false)"
        return None


@dataclass(frozen=True)
class Integer(Check):
    minimum: int = 1
    maximum: int | None = None
    refused: str = field(default="many", kw_only=True)

    def __call__(self, value: str) -> str | None:
        try:
            number = int(value.strip())
        except ValueError:
            return "not a whole number"
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            if self.maximum is None:
                return f"{number} is less than {self.minimum}"
            return f"{number} is not between {self.minimum} and {self.maximum}"
        return None


@dataclass(frozen=True)
class Pattern(Check):
    pattern: str = ""
    meaning: str = ""

    def __call__(self, value: str) -> str | None:
        return None if re.fullmatch(self.pattern, value) else f"not {self.meaning}"


@dataclass(frozen=True)
class Text(Check):
    min_length: int = 1
    refused: str = field(default="too-short", kw_only=True)

    def __call__(self, value: str) -> str | None:
        if len(value) < self.min_length:
            return f"{len(value)} characters, fewer than {self.min_length}"
        return None


@dataclass(frozen=True)
class ReadableFile(Check):
    """A file the process can read; ``certificates``: a PEM bundle of CA certificates."""

    certificates: bool = False
    refused: str = field(default="/nonexistent/avrr/file", kw_only=True)

    def __call__(self, value: str) -> str | None:
        path = Path(value.strip())
        try:
            path.read_bytes()
        except OSError as exc:
            return f"cannot read {path} ({exc.strerror or type(exc).__name__})"
        if self.certificates:
            try:
                ssl.create_default_context(cafile=str(path))
            except (ssl.SSLError, ValueError) as exc:
                return f"{path} holds no PEM certificates ({exc.__class__.__name__})"
        return None


# ---------------------------------------------------------------- the table --


def never(_start: Start) -> bool:
    return False


@dataclass(frozen=True)
class Variable:
    """One environment variable: the chart value that sets it, when it is needed, its check.

    ``chart`` may say ``{service}`` and ``{SERVICE}`` (the service's name, upper case).
    """

    name: str
    chart: str
    check: Check | None = None
    required: Callable[[Start], bool] = never

    def chart_value(self, service: str | None) -> str:
        """The chart value; without a service, its placeholder (``<service>``)."""
        name = service or "<service>"
        return self.chart.format(service=name, SERVICE=name.upper())


def _secret_key(value: str, key: str) -> str:
    return f"{value} (or the key {key} of secrets.existingSecret)"


def extra_env(name: str) -> str:
    """Where a variable that the chart has no value of its own for is set."""
    return f"config.extraEnv.{name} (or services.{{service}}.extraEnv.{name})"


FIXED = "the chart sets it itself (templates/{}), not a value"

# Outside development mode a service needs its PostgreSQL database and Kafka
# (the SQLite file and in-process bus are the embedded default's); the split
# roles need them always (ServiceSettings.check_role), the setup Job needs the
# database (its whole work) and no master key.
VARIABLES: tuple[Variable, ...] = (
    Variable("AVRR_DEV", "config.dev", Flag()),
    Variable("AVRR_DEV_AUTH", "config.devAuth", Flag()),
    Variable("AVRR_ROLE", "topology (the Deployments' --role)", Choice(ROLES)),
    Variable(
        "DATABASE_URL",
        _secret_key("services.{service}.databaseUrl", "DATABASE_URL_{SERVICE}"),
        DatabaseUrl(),
        required=lambda s: s.command == "setup" or s.split or not s.dev,
    ),
    Variable(
        "AVRR_KEYSTORE_URL", _secret_key("secrets.keystoreUrl", "AVRR_KEYSTORE_URL"), DatabaseUrl()
    ),
    Variable(
        "AVRR_MASTER_KEY",
        _secret_key("secrets.masterKey", "AVRR_MASTER_KEY"),
        Key(32),
        required=lambda s: s.command == "serve" and not s.dev,
    ),
    Variable("AVRR_AUDIT_KEY", extra_env("AVRR_AUDIT_KEY"), Key(32, at_least=True)),
    Variable(
        "KAFKA_BOOTSTRAP_SERVERS",
        "kafka.bootstrapServers",
        Servers(),
        required=lambda s: s.split or (s.command == "serve" and not s.dev),
    ),
    Variable(
        "KAFKA_SECURITY_PROTOCOL",
        "kafka.securityProtocol",
        Choice(("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")),
    ),
    Variable(
        "KAFKA_SASL_MECHANISM",
        "kafka.sasl.mechanism",
        Choice(("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")),
    ),
    Variable(
        "KAFKA_SASL_USERNAME",
        _secret_key("kafka.sasl.principals.{service}.username", "KAFKA_SASL_USERNAME_{SERVICE}"),
        required=lambda s: s.sasl,
    ),
    Variable(
        "KAFKA_SASL_PASSWORD",
        _secret_key("kafka.sasl.principals.{service}.password", "KAFKA_SASL_PASSWORD_{SERVICE}"),
        required=lambda s: s.sasl,
    ),
    Variable(
        "KAFKA_SSL_CAFILE",
        "kafka.tls.caSecret and kafka.tls.caKey",
        ReadableFile(certificates=True),
    ),
    Variable("AVRR_HOST", FIXED.format("configmap.yaml")),
    Variable("AVRR_PORT", FIXED.format("configmap.yaml"), Integer(1, 65535)),
    Variable("AVRR_KEEP_ALIVE", extra_env("AVRR_KEEP_ALIVE"), Integer(1)),
    Variable(
        "AVRR_LOG_LEVEL",
        "config.logLevel",
        Choice(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    ),
    Variable("AVRR_LOG_FORMAT", extra_env("AVRR_LOG_FORMAT"), Choice(("json", "text"))),
    Variable(
        "AVRR_TOPIC_PREFIX",
        "config.topicPrefix",
        Pattern(
            pattern=r"[a-zA-Z0-9._-]+",
            meaning="a Kafka topic name part ([a-zA-Z0-9._-]+)",
            refused="avrr/prod",
        ),
    ),
    Variable("AVRR_TOPIC_PARTITIONS", "config.topicPartitions", Integer(1)),
    Variable("AVRR_TOPIC_REPLICATION_FACTOR", "config.topicReplicationFactor", Integer(1)),
    Variable("AVRR_CORS_ORIGINS", "config.corsOrigins", Origins()),
    Variable("AVRR_OIDC_ISSUER", "config.oidc.issuer", HttpUrl()),
    Variable("AVRR_OIDC_AUDIENCE", "config.oidc.audience"),
    Variable("AVRR_OIDC_JWKS_URL", "config.oidc.jwksUrl", HttpUrl()),
    Variable(
        "AVRR_PATH_PREFIX",
        FIXED.format("_helpers.tpl: /<service>"),
        Pattern(
            pattern=r"(/[a-z0-9-]+)?", meaning="a path prefix such as /intake", refused="intake/"
        ),
    ),
    Variable("AVRR_OFFICES", extra_env("AVRR_OFFICES"), ReadableFile()),
    Variable("OTEL_EXPORTER_OTLP_ENDPOINT", "config.otel.endpoint", HttpUrl()),
    Variable(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "config.otel.protocol",
        Choice(("grpc", "http/protobuf", "http/json"), case_sensitive=True),
    ),
    Variable(
        "OTEL_TRACES_EXPORTER",
        FIXED.format("configmap.yaml"),
        Pattern(
            pattern=r"(otlp|console|none)(,(otlp|console|none))*",
            meaning="otlp, console or none",
            refused="jaeger",
        ),
    ),
    Variable("OTEL_SERVICE_NAME", FIXED.format("_helpers.tpl: avrr-<service>")),
)


@dataclass
class _Registered:
    variables: list[Variable] = field(default_factory=list)
    models: list[type[BaseModel]] = field(default_factory=list)


_services: dict[str, _Registered] = {}


def register(service: str, *variables: Variable, models: Iterable[type[BaseModel]] = ()) -> None:
    """A service's own variables (from its ``settings.py``), and its settings models, whose
    validation errors are then reported like the table's."""
    registered = _services.setdefault(service, _Registered())
    known = {v.name for v in registered.variables}
    registered.variables += [v for v in variables if v.name not in known]
    registered.models += [m for m in models if m not in registered.models]


def _load_service_settings(service: str) -> None:
    """Import the service's ``settings`` module, where it registers its variables.

    Found through its entry point (``avrr.services``) without importing the
    service itself: that import builds routes and reads files, after the check."""
    for ep in entry_points(group="avrr.services", name=service):
        module = f"{ep.module.split('.')[0]}.settings"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def variables_of(service: str) -> dict[str, Variable]:
    """The library's variables and the service's own, by name."""
    _load_service_settings(service)
    own = _services.get(service, _Registered()).variables
    return {v.name: v for v in (*VARIABLES, *own)}


def variable(name: str, service: str | None) -> Variable:
    """The table's entry; a variable it lacks is one a chart sets through extraEnv."""
    known = variables_of(service) if service else {v.name: v for v in VARIABLES}
    return known.get(name) or Variable(name, extra_env(name))


# ------------------------------------------------------------------ errors --


class SettingsError(RuntimeError):
    """A variable missing or malformed; ``str()`` is the one line a process exits with."""

    def __init__(self, name: str, service: str | None, problem: str) -> None:
        self.variable = name
        chart = variable(name, service).chart_value(service)
        where = chart if chart.startswith(FIXED[:20]) else f"set {chart} in the chart values"
        super().__init__(f"{name} {problem}: {where}")

    @classmethod
    def missing(cls, name: str, service: str | None = None) -> SettingsError:
        return cls(name, service, "is not set")

    @classmethod
    def malformed(cls, name: str, service: str | None, why: str) -> SettingsError:
        return cls(name, service, f"is malformed: {why}")


def checked(name: str, value: str, service: str | None = None) -> str:
    """``value``, if the table's check of ``name`` accepts it; else its SettingsError.

    For code that reads a setting later than the start-up check (a runtime built
    in a test or by the CLI): the same words for the same mistake."""
    check = variable(name, service).check
    why = check(value) if check is not None else None
    if why is not None:
        raise SettingsError.malformed(name, service, why)
    return value


def problem(start: Start) -> SettingsError | None:
    """The first variable this process cannot start with, or None."""
    for entry in variables_of(start.service).values():
        value = start.environ.get(entry.name)
        if value is None or not value.strip():
            if entry.required(start):
                return SettingsError.missing(entry.name, start.service)
            continue
        why = entry.check(value) if entry.check is not None else None
        if why is not None:
            return SettingsError.malformed(entry.name, start.service, why)
    from avrr_events.env_settings import variable_of  # pydantic: only where models are

    for model in _services.get(start.service, _Registered()).models:
        variables = (variable_of(info) for info in model.model_fields.values())
        # this environment's values (the model itself reads os.environ)
        given = {v: start.environ[v] for v in variables if v is not None and v in start.environ}
        error = validation_problem(model, start.service, **given)
        if error is not None:
            return error
    return None


def from_validation_error(
    error: ValidationError, service: str, model: type[BaseModel] | None = None
) -> SettingsError:
    """pydantic's (multi-line) error as the one line of its first field's variable."""
    first = error.errors()[0]
    where = str(first["loc"][0]) if first.get("loc") else "?"
    name = where.upper()
    from avrr_events.env_settings import variable_of

    fields = model.model_fields if model is not None else {}
    for field_name, info in fields.items():
        variable = variable_of(info)
        if variable is not None and where.upper() in (field_name.upper(), variable):
            name = variable
    why = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return SettingsError.malformed(name, service, why)


def validation_problem(model: type[BaseModel], service: str, **values: Any) -> SettingsError | None:
    """Build a settings model from the environment; its first error, if any."""
    from pydantic import ValidationError

    try:
        model(**values)
    except ValidationError as exc:
        return from_validation_error(exc, service, model)
    return None


def fail(error: SettingsError) -> NoReturn:
    """Exit 1 with the error's line on stderr, and nothing else."""
    logging.shutdown()
    print(str(error), file=sys.stderr, flush=True)
    raise SystemExit(1)


def exit_on_bad_settings(
    command: Command, service: str, environ: Mapping[str, str], *, role: str | None = None
) -> None:
    """Check the environment before anything else: one line and exit status 1 if it fails."""
    error = problem(Start(command, service, environ, role))
    if error is not None:
        fail(error)
