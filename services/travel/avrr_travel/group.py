"""The group movement: a convoy or charter that many households' movements take together.

One group per convoy or charter (the stream ``group-<group_id>``): planned with its
date, route, mode, seats and carrier; escorts are the programme's staff (platform
users, never migrants' data) with the needs each may escort; households (a case's
Movement) are assigned and leave; the group departs and arrives together.

Each household's own history stays whole: the group's events name the cases, and
every case's movement records that it joined or left the group and departs by its
own DepartureConfirmed (movement.py). The group keeps no personal data: case ids,
traveller counts and the staff's user ids.

Escort ratios (``escorts.ESCORT_RULES``, the one table the tickets follow too): for every
need the households bring (``escorts.escort_needs``: the vulnerability screening, unaccompanied
children, fitness with escort), the group carries one escort of one of the rule's kinds, able
to escort that need, per ``per`` people who have it.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from avrr_events import DomainEvent
from avrr_events.aggregate import Aggregate
from avrr_events.notices import N_
from avrr_events.notices.wording import Wording
from avrr_events.problems import DomainRuleViolation
from avrr_events.registry import declared_events
from avrr_travel.escorts import ESCORT_RULES, Need, escort_needs
from avrr_travel.movement import EscortKind, Movement, Place, listed
from avrr_travel.reasons import worded

GroupMode = Literal["bus", "charter_flight", "scheduled_flight_group", "train", "boat"]
# Why a household left its group (the travel officer sees it on the group).
LeaveCause = Literal[
    "removed_by_travel_officer",
    "consent_withdrawn",
    "case_withdrawn",
    "assessment_closed",
    "destination_suspended",
    "not_ready_at_departure",
    "clearance_lapsed",  # a person joined the cleared household: it is cleared again
]
StaffId = Annotated[str, Field(min_length=1, max_length=200)]


class GroupEscort(BaseModel):
    """A staff member escorting the group: a platform user, the kind, what they may escort."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    staff_id: StaffId
    kind: EscortKind
    may_escort: list[Need] = Field(default_factory=list, max_length=3)


# What a travel officer plans (the body of POST /groups): the convoy's or charter's office,
# date, route, mode, seats, carrier and first escorts. (A comment, not a docstring: the
# OpenAPI would show it.)
class GroupPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    office: str = Field(min_length=1, max_length=100)
    mode: GroupMode
    departure_date: date = Field(
        description="today or later (UTC); an earlier one is refused (422)"
    )
    route: list[Place] = Field(min_length=2, max_length=12)
    capacity: int = Field(ge=1, le=1000, description="seats, counted in travellers")
    carrier: str = Field(min_length=1, max_length=200)
    escorts: list[GroupEscort] = Field(default_factory=list, max_length=50)


# ------------------------------------------------------------------ events --


class GroupEvent(DomainEvent):
    group_id: str


class GroupPlanned(GroupEvent):
    """A convoy or charter was planned by a travel officer of ``office``."""

    event_type = "avrr.travel.GroupPlanned"

    office: str
    mode: GroupMode
    departure_date: date
    route: list[str]
    capacity: int
    carrier: str
    planned_at: datetime


class GroupEscortAssigned(GroupEvent):
    event_type = "avrr.travel.GroupEscortAssigned"

    escort: GroupEscort
    at: datetime


class HouseholdJoinedGroup(GroupEvent):
    """A case's household was assigned to the group: ``travellers`` seats."""

    event_type = "avrr.travel.HouseholdJoinedGroup"

    case_id: str
    travellers: int
    at: datetime


class HouseholdLeftGroup(GroupEvent):
    """A case's household left the group: removed by the officer, or by the platform."""

    event_type = "avrr.travel.HouseholdLeftGroup"

    case_id: str
    cause: LeaveCause
    at: datetime


class GroupDeparted(GroupEvent):
    """The group left: ``departed`` cases each with their own DepartureConfirmed."""

    event_type = "avrr.travel.GroupDeparted"

    departed: list[str]
    departed_at: datetime


class GroupArrived(GroupEvent):
    event_type = "avrr.travel.GroupArrived"

    arrived: list[str]
    arrived_at: datetime


EVENTS: tuple[type[DomainEvent], ...] = declared_events(globals(), GroupEvent)


class GroupRuleViolation(DomainRuleViolation):
    """A decision the group's state does not allow (422)."""


# ------------------------------------------------------------------- rules --


def missing_escorts(needs: Counter[Need], escorts: list[GroupEscort]) -> list[Wording]:
    """What the escorts lack for ``needs`` (empty when the ratios are met), each in the
    reader's language; the need and the escort kinds are codes."""
    missing = []
    for need, count in sorted(needs.items()):
        rule = ESCORT_RULES[need]
        required = math.ceil(count / rule.per)
        able = sum(1 for e in escorts if e.kind in rule.kinds and need in e.may_escort)
        if able < required:
            missing.append(
                worded(
                    N_(
                        "%(need)s: %(count)s people need %(required)s %(kinds)s escort(s) "
                        "able to escort them (one per %(per)s), the group has %(able)s"
                    ),
                    need=need,
                    count=count,
                    required=required,
                    kinds=" or ".join(sorted(rule.kinds)),
                    per=rule.per,
                    able=able,
                )
            )
    return missing


Status = Literal["not_planned", "planned", "departed", "arrived"]


class Group(Aggregate):
    """A convoy or charter; its id is the group id (its events are keyed by it)."""

    stream_type = "group"

    def __init__(self, group_id: str) -> None:
        super().__init__(group_id)
        self.planned: GroupPlanned | None = None
        self.escorts: dict[str, GroupEscort] = {}
        self.households: dict[str, int] = {}  # case id -> seats
        self.left: list[HouseholdLeftGroup] = []
        self.departed_at: datetime | None = None
        self.departed: list[str] = []
        self.arrived_at: datetime | None = None

    def when(self, event: DomainEvent) -> None:
        match event:
            case GroupPlanned():
                self.planned = event
            case GroupEscortAssigned():
                self.escorts[event.escort.staff_id] = event.escort
            case HouseholdJoinedGroup():
                self.households[event.case_id] = event.travellers
            case HouseholdLeftGroup():
                self.households.pop(event.case_id, None)
                self.left.append(event)
            case GroupDeparted():
                self.departed_at = event.departed_at
                self.departed = list(event.departed)
            case GroupArrived():
                self.arrived_at = event.arrived_at

    @property
    def status(self) -> Status:
        if self.planned is None:
            return "not_planned"
        if self.arrived_at is not None:
            return "arrived"
        if self.departed_at is not None:
            return "departed"
        return "planned"

    @property
    def seats_taken(self) -> int:
        return sum(self.households.values())

    # --------------------------------------------------------- decisions --

    def plan(self, plan: GroupPlan, at: datetime) -> None:
        if self.planned is not None:
            raise GroupRuleViolation(
                wording=worded(N_("group %(group)s is already planned"), group=self.id)
            )
        if plan.departure_date < at.date():
            raise GroupRuleViolation(
                wording=worded(N_("the departure date is in the past")), field="departure_date"
            )
        self.record(
            GroupPlanned(
                group_id=self.id,
                **plan.model_dump(exclude={"escorts"}),
                planned_at=at,
            )
        )
        for escort in plan.escorts:
            self.assign_escort(escort, at)

    def assign_escort(self, escort: GroupEscort, at: datetime) -> None:
        self._require_planned("assign an escort")
        if escort.staff_id in self.escorts:
            raise GroupRuleViolation(
                wording=worded(N_("%(staff)s already escorts this group"), staff=escort.staff_id)
            )
        self.record(GroupEscortAssigned(group_id=self.id, escort=escort, at=at))

    def assign(self, movement: Movement, at: datetime) -> None:
        """Seat ``movement``'s household; the movement records it too (``Movement.join_group``)."""
        self._require_planned("assign a household")
        assert self.planned is not None
        if movement.id in self.households:
            raise GroupRuleViolation(
                wording=worded(N_("case %(case)s is already in this group"), case=movement.id)
            )
        if not movement.is_open:
            raise GroupRuleViolation(
                wording=worded(
                    N_("the movement of case %(case)s is %(status)s"),
                    case=movement.id,
                    status=movement.status,
                )
            )
        if movement.held:
            raise GroupRuleViolation(
                wording=worded(N_("the movement of case %(case)s is held"), case=movement.id)
            )
        seats = len(movement.travellers)
        free = self.planned.capacity - self.seats_taken
        if seats > free:
            raise GroupRuleViolation(
                wording=worded(
                    N_(
                        "the household of case %(case)s needs %(seats)s seats, %(free)s are "
                        "free (capacity %(capacity)s)"
                    ),
                    case=movement.id,
                    seats=seats,
                    free=free,
                    capacity=self.planned.capacity,
                )
            )
        self.record(
            HouseholdJoinedGroup(group_id=self.id, case_id=movement.id, travellers=seats, at=at)
        )
        movement.join_group(self.id, at)

    def remove(self, movement: Movement, cause: LeaveCause, at: datetime) -> bool:
        """Take the household off the group (before departure); False when it is not on it."""
        if movement.id not in self.households or self.departed_at is not None:
            return False
        self.record(HouseholdLeftGroup(group_id=self.id, case_id=movement.id, cause=cause, at=at))
        movement.leave_group(self.id, cause, at)
        return True

    def depart(self, movements: list[Movement], at: datetime) -> list[str]:
        """Depart every ready household together; those not ready are left behind (off the
        group, each with its cause). Refused when none is ready, or when the escorts do
        not meet the ratios of the households that would depart. Returns the departed."""
        self._require_planned("depart")
        ready = [m for m in movements if m.ready_to_depart()]
        if not ready:
            raise GroupRuleViolation(
                wording=worded(N_("no household of the group is ready to depart"))
            )
        needs: Counter[Need] = Counter()
        for m in ready:
            needs.update(escort_needs(m.travellers))
        lacking = missing_escorts(needs, list(self.escorts.values()))
        if lacking:
            raise GroupRuleViolation(
                wording=worded(N_("the group cannot depart: %(lacking)s"), lacking=listed(lacking))
            )
        for m in movements:
            if m not in ready:
                self.remove(m, "not_ready_at_departure", at)
        for m in ready:
            m.confirm_departure(at)
        departed = [m.id for m in ready]
        self.record(GroupDeparted(group_id=self.id, departed=departed, departed_at=at))
        return departed

    def arrive(self, movements: list[Movement], at: datetime) -> list[str]:
        """Confirm the arrival of every departed household of the group (by its officer, in
        a partner's name, as for one movement)."""
        if self.departed_at is None or self.arrived_at is not None:
            raise GroupRuleViolation(
                wording=worded(
                    N_("only a departed group can arrive (it is %(status)s)"), status=self.status
                )
            )
        arrived = []
        for m in movements:
            if m.status == "departed":
                m.confirm_arrival(at, "partner", None)
                arrived.append(m.id)
        self.record(GroupArrived(group_id=self.id, arrived=arrived, arrived_at=at))
        return arrived

    def _require_planned(self, action: Action) -> None:
        if self.planned is None:
            raise GroupRuleViolation(wording=worded(_NOT_PLANNED[action], group=self.id))
        if self.departed_at is not None:
            raise GroupRuleViolation(wording=worded(_DEPARTED[action]))


Action = Literal["assign an escort", "assign a household", "depart"]
# What a group not planned, or departed, refuses: one sentence per action, as each
# language words it.
_NOT_PLANNED: dict[Action, str] = {
    "assign an escort": N_("cannot assign an escort: group %(group)s is not planned"),
    "assign a household": N_("cannot assign a household: group %(group)s is not planned"),
    "depart": N_("cannot depart: group %(group)s is not planned"),
}
_DEPARTED: dict[Action, str] = {
    "assign an escort": N_("cannot assign an escort: the group has departed"),
    "assign a household": N_("cannot assign a household: the group has departed"),
    "depart": N_("cannot depart: the group has departed"),
}
