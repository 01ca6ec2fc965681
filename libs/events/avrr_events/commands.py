"""The one shape of a command, without a web framework.

A command is: load the aggregate, check the caller's If-Match against its
version, let the aggregate decide, append its new events at the loaded version
(``Repository.execute``), and answer a ``CommandResult``. The REST layer
(``avrr_events.web.http.Command``) binds the caller, If-Match, traceparent and
Idempotency-Key to a ``CommandContext`` and renders the result; reactions
build a context of their own and call the same command objects.

The correlation rule (one for every service): the events of a REST command
carry the case id they are keyed by (the aggregate's ``subject``) as their
correlation id, so one case's flow through every service is one correlation;
events written in reaction to an event keep that event's correlation
(``Cause.of``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from avrr_events.envelope import Envelope, new_event_id
from avrr_events.notices.catalogs import N_
from avrr_events.problems import PreconditionFailed
from avrr_events.refusals import worded
from avrr_events.tracing import current_traceparent


@dataclass(frozen=True)
class Cause:
    """Why new events are written: the correlation of the whole case flow and the direct cause."""

    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None

    @classmethod
    def of(cls, envelope: Envelope) -> Cause:
        """The cause of events written in reaction to ``envelope``.

        The trace context is the active span's (the consumer span handling
        ``envelope``) so the new events continue the same trace as its child.
        """
        return cls(
            envelope.correlationid, envelope.id, current_traceparent() or envelope.traceparent
        )

    @classmethod
    def new(cls, correlation_id: str | None = None) -> Cause:
        """The cause of a command from outside (a REST call): a new correlation, this trace."""
        return cls(correlation_id or new_event_id(), None, current_traceparent())


@dataclass(frozen=True)
class Principal:
    """Who is calling: user id, roles and the offices whose cases they may work on."""

    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    offices: frozenset[str] = field(default_factory=frozenset)

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return bool(self.roles.intersection(roles))


# ------------------------------------------------------------- versions --


def etag(version: int) -> str:
    """The strong ETag of a stream at ``version``."""
    return f'"{version}"'


def if_match_version(header: str | None) -> int | None:
    """The version an If-Match header asks for; None when absent or ``*``.

    A weak validator (``W/"3"``) is accepted as its version: clients that got
    it from a proxy that weakened it still mean that version.
    """
    if header is None or header.strip() in ("", "*"):
        return None
    value = header.split(",")[0].strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    try:
        return int(value)
    except ValueError:
        raise PreconditionFailed(
            wording=worded(
                N_("If-Match %(header)s is not an ETag this API issued"), header=repr(header)
            )
        ) from None


def check_if_match(header: str | None, current_version: int) -> None:
    """Raise 412 when If-Match names a version other than ``current_version``."""
    wanted = if_match_version(header)
    if wanted is not None and wanted != current_version:
        raise PreconditionFailed(
            wording=worded(
                N_("the case is at version %(current)s, not %(wanted)s: read it again and retry"),
                current=current_version,
                wanted=wanted,
            ),
            current_etag=etag(current_version),
        )


# ------------------------------------------------------------- commands --


@dataclass(frozen=True)
class CommandContext:
    """Who sends a command, on which version they decided, and the trace it continues."""

    principal: Principal
    if_match: str | None = None
    traceparent: str | None = None

    def cause(self, subject: str) -> Cause:
        """The cause of this command's events on the case ``subject`` (the correlation rule).

        Their trace is the active span's (the request's, which continued the
        caller's traceparent if it sent one), else the caller's header: a new
        case's first events start its trace in the request that opened it.
        """
        return Cause(subject, None, current_traceparent() or self.traceparent)


@dataclass(frozen=True)
class CommandResult:
    """What a command answers: the stream's new version (the ETag) and the body.

    ``status`` is 201 for a command that creates what ``location`` names.
    The body holds what the client needs next: the ids the command created
    (they exist nowhere else in the answer) and the event types it wrote.
    """

    version: int
    body: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200
    location: str | None = None

    @classmethod
    def of(
        cls,
        version: int,
        *,
        status: int = 200,
        location: str | None = None,
        events: Iterable[str] | None = None,
        **body: Any,
    ) -> CommandResult:
        """A result whose body is ``body`` plus ``version`` and, if given, ``events``."""
        content = {**body, "version": version}
        if events is not None:
            content["events"] = list(events)
        return cls(version, content, status, location)
