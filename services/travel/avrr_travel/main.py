"""The travel service, assembled: its events, reactions, read models and routes.

``service`` is what the ``avrr.services`` entry point names; the runtime of
libs/events runs it standalone (``uvicorn avrr_travel.main:app --factory``
style, through ``create_app``) or embedded with the others (``make run``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from avrr_events import public
from avrr_events.web.service import Service
from avrr_travel import consents, destinations, read_models, return_statistics
from avrr_travel.api import POLICY, router
from avrr_travel.commands import MovementCommands
from avrr_travel.events import registry
from avrr_travel.reactions import REACTIONS

service = Service(
    name="travel",
    registry=registry,
    router=router,
    policy=POLICY,
    commands=lambda rt: MovementCommands(rt.db, rt.store, rt.cipher),
    projections=lambda _rt: read_models.projections(),
    reactions={**REACTIONS, **return_statistics.REACTIONS},
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
        "booking and escorts, departure, transit, arrival."
    ),
)


def create_app() -> FastAPI:
    """The standalone app, configured from the environment (DATABASE_URL, KAFKA_...)."""
    return service.app()
