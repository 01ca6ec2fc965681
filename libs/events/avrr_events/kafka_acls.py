"""Kafka principals and their ACLs: one SCRAM user per service, least privilege (ARCHITECTURE §9).

Every grant is derived from the services' own definitions (topic names,
observed services, public channels, dead-letter topic), so the ACLs cannot
drift from what the code produces and consumes:

- a service writes only its own domain topic, its dead-letter topic, its
  audit topic and the public channels it owns, and reads what it observes;
- an authority principal reads the public integration topics and nothing else.

``python -m avrr_events.kafka_acls show`` prints the table (the chart's and
compose's documentation point here); ``apply`` creates the SCRAM users and
the ACLs through an administrative connection (the local broker's loopback
listener, or a platform team's admin credentials in production).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from avrr_events.consumer import dead_letter_topic
from avrr_events.env_settings import EnvironmentSettings, from_env
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import Service

Resource = Literal["topic", "group", "cluster"]
Pattern = Literal["literal", "prefixed"]

AUTHORITY = "authority"
"""The development principal of government subscribers (one per country in production)."""

PRODUCE = ("WRITE", "DESCRIBE", "CREATE")
CONSUME = ("READ", "DESCRIBE")


@dataclass(frozen=True)
class Grant:
    """One ALLOW binding: ``principal`` may do ``operations`` on a resource name or prefix."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operations: tuple[str, ...]


def service_grants(
    settings: ServiceSettings, service: Service, user: str | None = None
) -> list[Grant]:
    """What one service's principal needs, and nothing more."""
    principal = f"User:{user or service.name}"
    group = settings.group(service.name)
    own = settings.topic(service.name)
    grants = [
        # Its own topic: written by the relay, read back by its own consumer group.
        Grant(principal, "topic", own, "literal", (*PRODUCE, "READ")),
        # Dead letters: written by the consumer, read by `avrr dlq` redrive.
        Grant(principal, "topic", dead_letter_topic(group), "literal", (*PRODUCE, "READ")),
        # Audit anchors (chain heads published outside the service's database).
        Grant(
            principal,
            "topic",
            f"{settings.topic_prefix}.audit.{service.name}",
            "prefixed",
            (*PRODUCE, "READ"),
        ),
        # An idempotent producer needs no cluster grant since Kafka 3.0 (KIP-679): WRITE suffices.
        Grant(principal, "group", group, "literal", ("READ", "DESCRIBE")),
    ]
    for other in service.observes:
        # CREATE: `avrr setup` of an observer may create an observed topic first.
        grants.append(
            Grant(principal, "topic", settings.topic(other), "literal", (*CONSUME, "CREATE"))
        )
    if service.public is not None:
        for channel in service.public.channels:
            fixed = channel.address.split("{", 1)[0]
            pattern: Pattern = "prefixed" if "{" in channel.address else "literal"
            grants.append(Grant(principal, "topic", settings.public_topic(fixed), pattern, PRODUCE))
    return grants


def authority_grants(settings: ServiceSettings, user: str = AUTHORITY) -> list[Grant]:
    """Government subscribers read the public integration topics only, in their own groups."""
    principal = f"User:{user}"
    return [
        Grant(principal, "topic", settings.public_topic(""), "prefixed", CONSUME),
        Grant(
            principal, "group", f"{settings.topic_prefix}.{user}.", "prefixed", ("READ", "DESCRIBE")
        ),
    ]


def platform_grants(settings: ServiceSettings, services: Iterable[Service]) -> list[Grant]:
    """Every service's grants plus the authority's."""
    grants: list[Grant] = []
    for service in services:
        grants.extend(service_grants(settings, service))
    grants.extend(authority_grants(settings))
    return grants


def development_password(user: str) -> str:
    """The local broker's password of a principal (never used outside development)."""
    return f"avrr-dev-{user}"


def _bindings(grants: Iterable[Grant]) -> list[Any]:
    # confluent-kafka's stubs do not re-export these names; they are its public API.
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    kinds = {
        "topic": ResourceType.TOPIC,
        "group": ResourceType.GROUP,
        "cluster": ResourceType.BROKER,
    }
    patterns = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
    return [
        AclBinding(
            kinds[g.resource],
            g.name,
            patterns[g.pattern],
            g.principal,
            "*",
            AclOperation[op],
            AclPermissionType.ALLOW,
        )
        for g in grants
        for op in g.operations
    ]


def apply(
    admin_config: Mapping[str, Any],
    grants: Sequence[Grant],
    passwords: Mapping[str, str],
    *,
    timeout: float = 30.0,
) -> None:
    """Create (or update) the SCRAM-SHA-512 users and the ACLs; both are idempotent."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient(dict(admin_config))
    if passwords:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upserts: list[Any] = [
            UserScramCredentialUpsertion(u, info, p.encode()) for u, p in passwords.items()
        ]
        for future in admin.alter_user_scram_credentials(upserts, request_timeout=timeout).values():
            future.result()
    for future in admin.create_acls(_bindings(grants), request_timeout=timeout).values():
        future.result()


def remove(
    admin_config: Mapping[str, Any], grants: Sequence[Grant], *, timeout: float = 30.0
) -> None:
    """Delete exactly these ACLs (tests clean up the grants of their own prefix)."""
    from confluent_kafka.admin import AclBindingFilter, AdminClient  # type: ignore[attr-defined]

    admin = AdminClient(dict(admin_config))
    filters = [
        AclBindingFilter(
            b.restype,
            b.name,
            b.resource_pattern_type,
            b.principal,
            b.host,
            b.operation,
            b.permission_type,
        )
        for b in _bindings(grants)
    ]
    for future in admin.delete_acls(filters, request_timeout=timeout).values():
        future.result()


def granted(admin_config: Mapping[str, Any], *, timeout: float = 30.0) -> set[tuple[str, str, str]]:
    """(principal, resource name, operation) of every ALLOW binding on the cluster."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    everything = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # None matches any name, principal and host
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ALLOW,
    )
    admin = AdminClient(dict(admin_config))
    bindings = admin.describe_acls(everything, request_timeout=timeout).result(timeout=timeout)
    return {(b.principal, b.name, b.operation.name) for b in bindings}


def _services() -> list[Service]:
    from avrr_events.web.embedded import discover

    return list(discover())


class KafkaAdminSettings(EnvironmentSettings):
    """The defaults of ``show``/``apply``: the topic prefix and an administrative listener
    (its own variable, else the clients' one). Named like their variables."""

    avrr_topic_prefix: str = from_env("avrr_topic_prefix", "AVRR_TOPIC_PREFIX", "avrr")
    kafka_admin_bootstrap_servers: str | None = from_env(
        "kafka_admin_bootstrap_servers", "KAFKA_ADMIN_BOOTSTRAP_SERVERS", None
    )
    kafka_bootstrap_servers: str = from_env(
        "kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", ""
    )

    def bootstrap(self) -> str:
        admin = self.kafka_admin_bootstrap_servers
        return self.kafka_bootstrap_servers if admin is None else admin


def main(argv: Sequence[str] | None = None) -> int:
    """``show``: the grants as a table; ``apply``: users (development passwords) and ACLs."""
    parser = argparse.ArgumentParser(prog="python -m avrr_events.kafka_acls", description=__doc__)
    parser.add_argument("action", choices=("show", "apply"))
    defaults = KafkaAdminSettings()
    parser.add_argument("--prefix", default=defaults.avrr_topic_prefix)
    parser.add_argument(
        "--bootstrap",
        default=defaults.bootstrap(),
        help="an administrative listener (the local broker's loopback PLAINTEXT listener)",
    )
    parser.add_argument(
        "--development-users",
        action="store_true",
        help="also create each principal's SCRAM user with its development password",
    )
    args = parser.parse_args(argv)
    settings = ServiceSettings(topic_prefix=args.prefix)
    services = _services()
    grants = platform_grants(settings, services)
    if args.action == "show":
        for g in grants:
            print(
                f"{g.principal:20} {g.resource:8} {g.pattern:9} {g.name:40} "
                f"{','.join(g.operations)}"
            )
        return 0
    if not args.bootstrap:
        print(
            "kafka_acls: --bootstrap or KAFKA_ADMIN_BOOTSTRAP_SERVERS is required", file=sys.stderr
        )
        return 1
    users = [s.name for s in services] + [AUTHORITY]
    passwords = {u: development_password(u) for u in users} if args.development_users else {}
    apply({"bootstrap.servers": args.bootstrap}, grants, passwords)
    print(f"kafka_acls: {len(grants)} grants for {len(users)} principals on {args.bootstrap}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
