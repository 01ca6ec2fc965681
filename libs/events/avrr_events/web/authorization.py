"""Who may call which route: the roles, one declarative policy per service, office scoping.

The roles (claim ``roles`` of the OIDC token) and what each may do:

==========================  ==============================================================
``referrer``                a partner organisation: submits referrals (intake) and reads
                            the status of the referrals it submitted, nothing else
``caseworker``              works cases of its offices: intake (referral, counselling,
                            consent, return request, withdrawal), eligibility (screening,
                            best interests, due diligence); reads movements
``medical``                 records fitness to travel and alone reads health details
``travel_officer``          works the movements of its offices (documents, ticket,
                            departure, transit, arrival), reads manifests and transit notes
``reintegration_officer``   works reintegration cases (plan, assistance, referrals,
                            monitoring, surveys); in the receiving office it confirms
                            the arrival that hands the case over to that office
``supervisor``              everything a caseworker may, plus destination suspensions,
                            reintegration and the situational reports, in its offices
``auditor``                 read-only: the audit log and its verification, the reports
``data_protection_officer`` reads case files of its offices and erases personal data
``admin``                   runs the platform (CLI: setup, topics, dead letters,
                            rebuild); over HTTP reads the catalogues and loads demo data
                            in development; sees no case
``focal_point``             the designated focal point for complaints of sexual
                            exploitation and abuse and of staff misconduct: alone
                            receives them (intake's feedback), never about its own offices
``authority``               a government system of a country of origin (its token's
                            ``offices`` claim holds that country's ISO code): fetches the
                            disclosure keys of that country's public records (intake),
                            while the person's consent stands; sees no case
==========================  ==============================================================

Office scoping: a token's ``offices`` claim lists the offices whose cases the
user may see; ``*`` means every office and is for headquarters accounts only
(no role implies it: a supervisor is scoped like anyone else, and a regional
supervisor's token lists the offices of the region). A case belongs to the
office that received the referral, and also, once the case was handed over,
to the receiving office in the country of origin (a service's ``case_offices``
lookup says which offices a case has). Offices are the registry of
avrr_events.offices: only a host or receiving office of the destination
country receives a case (``avrr_events.handover.handed_over_to``).

Health details (travel's fitness-to-travel details, encrypted per person) are
recorded and read through routes that admit ``medical`` only. Eligibility's
vulnerability screening keeps the category ``health_needs`` and a severity,
no details: caseworkers need the flag to prioritise the queue and travel
needs it to plan an escort, so it is not treated as a medical record.

Each service declares a ``Policy``: a table from ``"METHOD /path"`` (the
route's template, exactly as in the app's route table) to a ``Rule`` (the
roles allowed and the scoping that applies). ``authorize`` is a dependency of
every route of a service app: it finds the rule of the matched route,
authenticates (401), checks the role (403) and, for case routes, the office
(403). A route without a rule is refused to everyone, and
tests/test_authorization_matrix.py fails on it, so a new route cannot ship
without a decision about who may call it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from starlette.routing import BaseRoute, Route

from avrr_events.notices.catalogs import N_
from avrr_events.offices import OfficeRegistry
from avrr_events.refusals import ROLES_NEEDED, worded
from avrr_events.web.http import Forbidden, Principal, current_principal

log = logging.getLogger(__name__)


class Role(StrEnum):
    """The roles of the platform (see the module docstring for what each may do)."""

    REFERRER = "referrer"
    CASEWORKER = "caseworker"
    MEDICAL = "medical"
    TRAVEL_OFFICER = "travel_officer"
    REINTEGRATION_OFFICER = "reintegration_officer"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    DATA_PROTECTION_OFFICER = "data_protection_officer"
    ADMIN = "admin"
    AUTHORITY = "authority"
    FOCAL_POINT = "focal_point"


ROLES: tuple[Role, ...] = tuple(Role)
# The organisation's own staff: every role but the outside parties (partners, governments).
STAFF: tuple[Role, ...] = tuple(r for r in Role if r not in (Role.REFERRER, Role.AUTHORITY))
ALL_OFFICES = "*"

Scope = Literal["none", "case", "office", "own", "handler"]
"""How far a rule's roles reach.

- ``none``: not about one office's cases (catalogues, aggregate reports).
- ``case``: the route's ``case_id`` must belong to one of the caller's offices
  (checked here with the policy's ``case_offices`` lookup; an unknown case
  passes, and the route answers 404).
- ``office``: an ``office`` query parameter must be one of the caller's
  offices; without it, the route lists only the caller's offices.
- ``own``: only what the caller submitted (the route checks it).
- ``handler``: a rule the route itself checks (it says which in its docstring).
"""

CaseOffices = Callable[[Request, str], Awaitable[frozenset[str] | None]]


@dataclass(frozen=True)
class Rule:
    """Who may call one route: any of ``roles``, within ``scope``; ``public`` needs no token."""

    roles: frozenset[Role] = frozenset()
    scope: Scope = "none"
    public: bool = False


def allow(*roles: Role, scope: Scope = "none") -> Rule:
    """A rule admitting callers with any of ``roles``."""
    if not roles:
        raise ValueError("a rule names at least one role (or is PUBLIC)")
    return Rule(roles=frozenset(roles), scope=scope)


PUBLIC = Rule(public=True)


@dataclass(frozen=True)
class Policy:
    """The rules of one service's routes, keyed ``"METHOD /path"`` as in the route table."""

    rules: Mapping[str, Rule]
    case_offices: CaseOffices | None = field(default=None, compare=False)
    # False only for apps without a service policy (library samples): their
    # unruled routes check the caller themselves.
    deny_unruled: bool = True

    def __post_init__(self) -> None:
        for key in self.rules:
            method, _, path = key.partition(" ")
            if method != method.upper() or not path.startswith("/"):
                raise ValueError(f"policy key {key!r} is not 'METHOD /path'")
        scoped = [k for k, r in self.rules.items() if r.scope == "case"]
        if scoped and self.case_offices is None:
            raise ValueError(f"case-scoped rules need a case_offices lookup: {scoped}")

    def rule(self, method: str, path: str) -> Rule | None:
        return self.rules.get(f"{method} {path}")

    def merged(self, other: Policy) -> Policy:
        """This policy with ``other``'s rules added (a route may not be ruled twice)."""
        twice = sorted(set(self.rules) & set(other.rules))
        if twice:
            raise ValueError(f"routes ruled twice: {twice}")
        return Policy(
            {**self.rules, **other.rules},
            self.case_offices or other.case_offices,
            deny_unruled=self.deny_unruled or other.deny_unruled,
        )


def route_keys(routes: Iterable[BaseRoute]) -> list[str]:
    """``"METHOD /path"`` of every route of an app (HEAD, added implicitly, left out).

    FastAPI keeps an included router as one entry of ``app.routes`` that
    yields its routes (with their full paths) from ``effective_route_contexts``;
    plain routes are listed as themselves.
    """
    keys = []
    for route in routes:
        included = getattr(route, "effective_route_contexts", None)
        if included is not None:
            for context in included():
                methods = getattr(context.original_route, "methods", None) or ()
                keys += [f"{m} {context.path}" for m in sorted(methods) if m != "HEAD"]
        elif isinstance(route, Route):
            keys += [f"{m} {route.path}" for m in sorted(route.methods or ()) if m != "HEAD"]
    return keys


def unruled_routes(app: FastAPI) -> list[str]:
    """Routes of ``app`` that its policy has no rule for (each would be refused to everyone)."""
    policy: Policy | None = getattr(app.state, "policy", None)
    rules = policy.rules if policy is not None else {}
    return [key for key in route_keys(app.routes) if key not in rules]


def stale_rules(app: FastAPI) -> list[str]:
    """Rules of ``app``'s policy that name no route (a renamed route leaves its rule behind)."""
    policy: Policy | None = getattr(app.state, "policy", None)
    routes = set(route_keys(app.routes))
    return sorted(k for k in (policy.rules if policy else {}) if k not in routes)


def ensure_acts_for_country(
    principal: Principal, country: str, offices: OfficeRegistry, action: str
) -> None:
    """403 unless the caller is a headquarters account or belongs to an office in ``country``.

    For decisions about a country as a whole (suspending returns to it): a
    supervisor in Tapachula does not decide whether Honduras is safe.
    """
    if sees_every_office(principal) or offices.any_in_country(principal.offices, country):
        return
    raise Forbidden(
        wording=worded(
            N_(
                "%(action)s is for headquarters accounts or an office in %(country)s; "
                "none of your offices is"
            ),
            action=action,
            country=country,
        )
    )


def sees_every_office(principal: Principal) -> bool:
    return ALL_OFFICES in principal.offices


def may_see(principal: Principal, offices: Iterable[str]) -> bool:
    """Whether a case that belongs to ``offices`` is within the caller's offices."""
    return sees_every_office(principal) or not principal.offices.isdisjoint(offices)


def ensure_office(principal: Principal, office: str) -> None:
    """403 unless ``office`` is one of the caller's."""
    if not may_see(principal, (office,)):
        raise Forbidden(wording=worded(N_("office %(office)s is not one of yours"), office=office))


def visible_offices(principal: Principal) -> frozenset[str] | None:
    """The offices whose cases a list may show the caller; None: every office."""
    return None if sees_every_office(principal) else principal.offices


async def authorize(request: Request) -> Principal | None:
    """The dependency of every route of a service app: 401, 403, or the caller (None if public)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    policy: Policy | None = getattr(request.app.state, "policy", None)
    if policy is None or path is None:  # an app assembled without a policy (library samples)
        return None
    rule = policy.rule(request.method, path)
    if rule is None:
        if not policy.deny_unruled:
            return None
        log.error("no authorization rule for %s %s: refused", request.method, path)
        raise Forbidden(wording=worded(N_("no authorization rule covers this route")))
    if rule.public:
        return None
    principal = await current_principal(request)
    if not principal.has_any_role(rule.roles):
        raise Forbidden(wording=worded(ROLES_NEEDED, roles=", ".join(sorted(rule.roles))))
    if rule.scope == "office":
        office = request.query_params.get("office")
        if office is not None:
            ensure_office(principal, office)
    elif rule.scope == "case":
        assert policy.case_offices is not None  # checked when the policy was built
        case_id = str(request.path_params.get("case_id", ""))
        offices = await policy.case_offices(request, case_id)
        if offices is not None and not may_see(principal, offices):
            raise Forbidden(
                wording=worded(N_("this case belongs to an office that is not one of yours"))
            )
    return principal


async def authorized_principal(
    principal: Annotated[Principal | None, Depends(authorize)],
) -> Principal:
    """The caller of a non-public route (``authorize`` runs once per request: it is cached)."""
    if principal is None:
        raise Forbidden(wording=worded(N_("this route has no rule that identifies its caller")))
    return principal


Authorized = Annotated[Principal, Depends(authorized_principal)]
"""A route parameter: the authenticated caller that the route's rule admitted."""
