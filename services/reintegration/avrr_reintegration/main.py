"""The reintegration service, assembled (entry point ``avrr.services: reintegration``).

Standalone: ``uvicorn --factory avrr_reintegration.main:create_app`` with
DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS and AVRR_MASTER_KEY set; embedded:
``make run``. ``build_service`` takes another programme catalogue or service
directory (tests, or a deployment reading its own files).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from avrr_events import Projection
from avrr_events.web.service import Service, ServiceRuntime
from avrr_reintegration import handover, reactions, read_models
from avrr_reintegration.api import POLICY, router
from avrr_reintegration.commands import ReintegrationCommands
from avrr_reintegration.directory import ServiceDirectory, load_directory
from avrr_reintegration.events import registry
from avrr_reintegration.programmes import ProgrammeCatalogue, load_catalogue


def build_service(
    catalogue: ProgrammeCatalogue | None = None, directory: ServiceDirectory | None = None
) -> Service:
    """The service over a programme catalogue and a service directory (packaged by default)."""
    chosen_catalogue = catalogue or load_catalogue()
    chosen_directory = directory or load_directory()

    def assemble(runtime: ServiceRuntime) -> Sequence[Projection]:
        return [*read_models.projections(chosen_catalogue), handover.CaseHandovers(runtime.offices)]

    def commands(runtime: ServiceRuntime) -> ReintegrationCommands:
        # Built once per runtime, for the routes and the reactions (ctx.commands).
        return ReintegrationCommands(
            runtime.db, runtime.store, chosen_catalogue, chosen_directory, runtime.cipher
        )

    return Service(
        name="reintegration",
        registry=registry,
        router=router,
        policy=POLICY,
        projections=assemble,
        reactions=reactions.REACTIONS,
        commands=commands,
        read_models=(
            read_models.facts,
            read_models.views,
            read_models.conflicts,
            handover.metadata,
        ),
        migrations=Path(__file__).with_name("migrations"),
        observes=("travel", "eligibility", "intake"),
        title="AVRR reintegration",
        description=(
            "Reintegration eligibility under programme limits, plans, the assistance ledger, "
            "referrals to mapped local services, monitoring visits and sustainability scores."
        ),
    )


service = build_service()


def create_app() -> FastAPI:
    """The standalone app, configured from the environment."""
    return service.app()
