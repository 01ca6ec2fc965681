"""Intake's read models are disposable: a rebuild from the consumer's journal gives them back."""

from __future__ import annotations

from intake_fixtures import Intake, consent

from avrr_events import ProjectionRunner
from avrr_intake.events import registry
from avrr_intake.read_models import CaseFiles


async def test_rebuilding_the_case_files_reproduces_them(intake: Intake) -> None:
    created = await intake.open_case()
    case_id = created["case_id"]
    given = await intake.http.post(
        f"/cases/{case_id}/consents", json=consent(intake.person(created, "principal"))
    )
    assert given.status_code == 201, given.text
    before = await intake.wait_for(case_id, version=given.json()["version"])

    [projection] = [p for p in intake.runtime.projections if isinstance(p, CaseFiles)]
    runner = ProjectionRunner(intake.runtime.db, registry, intake.runtime.group)
    assert await runner.rebuild(projection) == 2

    after = (await intake.case(case_id)).json()
    assert after == before
    duplicate = await intake.refer()
    assert duplicate.json()["possible_duplicates"], "the duplicate keys were rebuilt too"
