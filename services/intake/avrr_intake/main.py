"""The intake service as the runtime runs it (entry point ``avrr.services: intake``).

Standalone: ``uvicorn --factory avrr_intake.main:create_app`` with DATABASE_URL,
KAFKA_BOOTSTRAP_SERVERS and AVRR_MASTER_KEY set; embedded: ``make run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI

from avrr_events import Projection, public
from avrr_events.web.service import Service, ServiceRuntime
from avrr_intake import (
    attachments,
    authorities,
    feedback,
    feedback_api,
    handover,
    manifests_api,
    notices_api,
    reactions,
    read_models,
    reports,
    retention,
    satisfaction,
    search,
    timeline,
    transfer,
)
from avrr_intake.api import POLICY, router
from avrr_intake.commands import IntakeCommands
from avrr_intake.events import registry
from avrr_intake.settings import IntakeSettings


def projections(runtime: ServiceRuntime) -> Sequence[Projection]:
    """Intake's read models; called once while the runtime is assembled."""
    # Fail at start-up, not at the first referral, when the duplicate-check key is missing.
    secret = IntakeSettings().secret(runtime.settings)
    return [
        read_models.CaseFiles(runtime.cipher),
        timeline.CaseTimeline(),
        reports.SituationalReports(runtime.offices),
        handover.CaseHandovers(runtime.offices),
        retention.CaseClosures(),
        search.PeopleIndex(runtime.cipher, search.key_of(secret)),
        attachments.CaseNotes(attachments.object_store(IntakeSettings())),
        transfer.Transfers(),
        feedback.FeedbackItems(),
        satisfaction.SatisfactionAnswers(),
    ]


# The case routes (api.py), feedback's (feedback_api.py), which are about no case, and the
# notices in the person's language (notices_api.py).
routes = APIRouter()
routes.include_router(router)
routes.include_router(feedback_api.router)
routes.include_router(notices_api.router)
routes.include_router(manifests_api.router)


service = Service(
    name="intake",
    registry=registry,
    router=routes,
    policy=POLICY.merged(feedback_api.POLICY)
    .merged(notices_api.POLICY)
    .merged(manifests_api.POLICY),
    projections=projections,
    read_models=[
        read_models.metadata,
        timeline.metadata,
        reports.metadata,
        handover.metadata,
        public.metadata,
        retention.metadata,
        search.metadata,
        attachments.metadata,
        attachments.files_metadata,  # the file store: created like a read model, never rebuilt
        transfer.metadata,
        feedback.metadata,
        satisfaction.metadata,
    ],
    migrations=Path(__file__).with_name("migrations"),
    observes=("eligibility", "travel", "reintegration"),
    reactions=reactions.REACTIONS,
    # Built once per runtime: the routes' (api.Cases), the retention sweep's and the
    # transfer expiry's.
    commands=lambda runtime: IntakeCommands(runtime, IntakeSettings().secret(runtime.settings)),
    jobs=lambda runtime: [retention.retention_job(runtime), transfer.expiry_job(runtime)],
    public=authorities.PUBLIC,
    title="AVRR intake",
    description=(
        "Referrals, counselling, informed consent, return requests, withdrawal, reopening, "
        "transfers between offices, erasure, feedback and complaints; "
        "the case timeline across services and the situational reports."
    ),
)


def create_app() -> FastAPI:
    """The standalone app, configured from the environment (ASGI factory)."""
    return service.app()
