"""The eligibility service as the runtime runs it (entry point ``avrr.services: eligibility``).

The programme file is loaded and validated here, when the service is
assembled: a malformed file stops the start (``make run``, ``make up``,
uvicorn) with a message naming the field, instead of serving wrong rules.

Standalone: ``uvicorn --factory avrr_eligibility.main:create_app`` with DATABASE_URL,
KAFKA_BOOTSTRAP_SERVERS and AVRR_MASTER_KEY set (AVRR_ELIGIBILITY_PROGRAMMES
for another programme file); embedded: ``make run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from avrr_eligibility import read_models
from avrr_eligibility.api import POLICY, build_router
from avrr_eligibility.commands import EligibilityCommands
from avrr_eligibility.events import registry
from avrr_eligibility.programmes import ProgrammeCatalogue, load_programmes
from avrr_eligibility.reactions import build_reactions
from avrr_eligibility.settings import EligibilitySettings
from avrr_events import Projection
from avrr_events.web.service import Service, ServiceRuntime


def projections(_runtime: ServiceRuntime) -> Sequence[Projection]:
    return [read_models.AssessmentQueue()]


def build_service(catalogue: ProgrammeCatalogue) -> Service:
    """The eligibility service deciding with ``catalogue``."""
    return Service(
        name="eligibility",
        registry=registry,
        router=build_router(catalogue),
        policy=POLICY,
        projections=projections,
        reactions=build_reactions(catalogue),
        commands=lambda runtime: EligibilityCommands(runtime, catalogue),
        read_models=[read_models.metadata],
        migrations=Path(__file__).with_name("migrations"),
        observes=("intake",),
        title="AVRR eligibility",
        description=(
            "Programme rules, vulnerability screening, best-interests determinations, "
            f"due diligence, destination safety. Programmes version {catalogue.version}."
        ),
    )


service = build_service(load_programmes(EligibilitySettings().programmes_file))


def create_app() -> FastAPI:
    """ASGI factory: ``uvicorn --factory avrr_eligibility.main:create_app``."""
    return service.app()
