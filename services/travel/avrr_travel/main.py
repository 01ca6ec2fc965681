"""The travel service, assembled: its events, reactions, read models and routes.

``service`` is what the ``avrr.services`` entry point names; the runtime of
libs/events runs it standalone (``uvicorn avrr_travel.main:app --factory``
style, through ``create_app``) or embedded with the others (``make run``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI

from avrr_events import public
from avrr_events.web.service import Service
from avrr_travel import (
    consents,
    destinations,
    group_api,
    group_commands,
    pre_departure,
    read_models,
    return_statistics,
)
from avrr_travel.api import POLICY, router
from avrr_travel.commands import MovementCommands
from avrr_travel.events import registry
from avrr_travel.reactions import REACTIONS

# The movements' routes (api.py), the group movements' (group_api.py) and the pre-departure
# assistance and budgets' (pre_departure.py).
routes = APIRouter()
routes.include_router(router)
routes.include_router(group_api.router)
routes.include_router(pre_departure.router)

service = Service(
    name="travel",
    registry=registry,
    router=routes,
    policy=POLICY.merged(group_api.POLICY).merged(pre_departure.POLICY),
    commands=lambda rt: MovementCommands(rt.db, rt.store, rt.cipher),
    projections=lambda _rt: read_models.projections(),
    # A household leaves its group after travel's own reaction to the same event.
    reactions=group_commands.after(
        {**REACTIONS, **return_statistics.REACTIONS}, group_commands.REACTIONS
    ),
    read_models=(
        destinations.metadata,
        consents.metadata,
        read_models.views,
        read_models.medical,
        read_models.conflicts,
        return_statistics.metadata,
        public.metadata,
    ),
    migrations=Path(__file__).with_name("migrations"),
    observes=("intake", "eligibility"),
    public=return_statistics.PUBLIC,
    jobs=return_statistics.jobs,
    title="AVRR travel",
    description=(
        "Movements of households cleared for return: travel documents, fitness to travel, "
        "booking and escorts, departure, transit, arrival; group movements (convoys, "
        "charters) that depart and arrive together."
    ),
)


def create_app() -> FastAPI:
    """The standalone app, configured from the environment (DATABASE_URL, KAFKA_...)."""
    return service.app()
