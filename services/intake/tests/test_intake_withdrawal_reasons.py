"""Issue 19: consent and case withdrawals record a reason from a coded list (documented in the
OpenAPI) and optional free text encrypted under the person's key; consent withdrawals recorded
before reasons were coded read as ``not_recorded``; withdrawals are counted by reason
(``GET /reports/withdrawals``: no note, small cells suppressed outside headquarters).
Real PostgreSQL and Kafka.

Decided: the REST routes require a code (a missing or unknown one is a 422 problem naming
``reason``; ``other`` with a note is always open to the person), while events recorded
without one still load and count, so a person is never kept from withdrawing by the code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

from intake_fixtures import Intake, answered, referral
from intake_tokens import bearer

from avrr_events.commands import CommandContext, Principal
from avrr_events.testing import eventually
from avrr_intake.case import Case
from avrr_intake.consent import (
    NOT_RECORDED,
    WITHDRAWAL_REASONS,
    ConsentWithdrawn,
    WithdrawalReason,
)

HEADQUARTERS = bearer("pm-hq", "auditor", "*")
GUATEMALA = bearer("pm-gt", "auditor", "GT-GUA")
NOTE = "Mi hermana está enferma en Ciudad de Guatemala"


def test_every_code_has_its_meaning() -> None:
    assert list(WITHDRAWAL_REASONS) != [] and set(WITHDRAWAL_REASONS) == set(
        get_args(WithdrawalReason)
    )
    assert NOT_RECORDED not in WITHDRAWAL_REASONS  # read for old events, never accepted


async def test_the_openapi_documents_every_code_and_requires_one(intake: Intake) -> None:
    schemas = (await intake.http.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("WithdrawalIn", "ConsentWithdrawalIn", "ClosureIn"):
        reason = schemas[model]["properties"]["reason"]
        assert "reason" in schemas[model]["required"], model
        described = json.dumps(reason)
        for code, meaning in WITHDRAWAL_REASONS.items():
            assert code in described and meaning[:30] in described, (model, code)

    case_id, _mother, _child = await intake.return_requested()
    paths = (
        f"/cases/{case_id}/consents/contact_by_programme/withdrawal",
        f"/cases/{case_id}/withdrawal",
    )
    for path in paths:
        for body in ({}, {"reason": "bored"}, {"reason": NOT_RECORDED}):
            refused = await intake.http.post(path, json=body)
            assert refused.status_code == 422, (path, body, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert "reason" in refused.text, refused.text


async def test_withdrawals_are_counted_by_reason_without_their_words(intake: Intake) -> None:
    case_id, mother, _child = await intake.return_requested()
    withdrawn = await intake.http.post(
        f"/cases/{case_id}/consents/share_with_authorities/withdrawal",
        json={"person_id": mother, "reason": "safety_concerns"},
    )
    assert withdrawn.status_code == 422  # never given: nothing to withdraw, nothing counted
    answered(
        await intake.http.post(
            f"/cases/{case_id}/withdrawal", json={"reason": "family_reasons", "note": NOTE}
        )
    )
    recorded = await intake.runtime.store.load(f"case-{case_id}")
    stored = json.dumps([r.envelope.data for r in recorded])
    assert "hermana" not in stored

    # A consent withdrawal recorded before reasons were coded (no reason in the event).
    other = await intake.open_case(referral(office="MX-TAP"))
    other_id = other["case_id"]
    other_mother = intake.person(other, "principal")
    given = await intake.http.post(
        f"/cases/{other_id}/consents",
        json={
            "person_id": other_mother,
            "purposes": ["contact_by_programme"],
            "given_on": "2026-01-10",
            "language": "es",
        },
    )
    assert given.status_code == 201, given.text
    commands = intake.runtime.commands

    def withdraw_the_old_way(case: Case) -> None:
        case.withdraw_consent(
            ConsentWithdrawn(
                case_id=other_id,
                person_id=other_mother,
                purpose="contact_by_programme",
                withdrawn_at=datetime.now(UTC),
                recorded_by="caseworker-1",
            )
        )

    ctx = CommandContext(Principal(user_id="caseworker-1"))
    executed = await commands.repo.execute(other_id, ctx, withdraw_the_old_way)
    case = await intake.wait_for(other_id, version=executed.aggregate.version)
    [old] = case["consent_withdrawals"]
    assert old["reason"] == NOT_RECORDED
    assert (await commands.repo.load(other_id)).consents == set()

    async def report(headers: dict[str, str]) -> dict[str, Any]:
        response = await intake.http.get("/reports/withdrawals", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def counted() -> bool:
        return bool((await report(HEADQUARTERS))["total"]["withdrawals"] == 2)

    await eventually(counted, timeout=30)
    items = (await report(HEADQUARTERS))["items"]
    assert items == [
        {"withdrawn": "case", "reason": "family_reasons", "withdrawals": 1, "cases": 1},
        {
            "withdrawn": "contact_by_programme",
            "reason": NOT_RECORDED,
            "withdrawals": 1,
            "cases": 1,
        },
    ]
    assert "hermana" not in json.dumps(items)
    # An office's view: its own case only, and one household is a small cell.
    guatemala = await report(GUATEMALA)
    assert [i["withdrawn"] for i in guatemala["items"]] == ["case"]
    assert guatemala["items"][0]["cases"] is None and guatemala["items"][0]["suppressed"]
    assert guatemala["total"]["cases"] is None
    as_csv = await intake.http.get(
        "/reports/withdrawals", headers=HEADQUARTERS, params={"format": "csv"}
    )
    assert as_csv.text.splitlines()[:2] == [
        "withdrawn,reason,withdrawals,cases",
        "case,family_reasons,1,1",
    ]
