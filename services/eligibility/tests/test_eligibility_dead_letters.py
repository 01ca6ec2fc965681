"""Intake events this service cannot read are dead-lettered with the reason, not crashed on."""

from __future__ import annotations

from eligibility_fixtures import Eligibility, return_requested


def header(message_headers: tuple[tuple[str, bytes], ...], name: str) -> str:
    return next(v.decode() for k, v in message_headers if k == name)


async def test_unknown_versions_and_invalid_payloads_from_intake_are_dead_lettered(
    eligibility: Eligibility,
) -> None:
    future = await eligibility.from_intake("ReturnRequested", return_requested("dlq-v2"), version=2)
    invalid = await eligibility.from_intake(
        "ReturnRequested", return_requested("dlq-bad", nationality="XX")
    )
    await eligibility.from_intake("ReturnRequested", return_requested("dlq-fine"))

    # The consumer went on: the valid event after the bad ones was handled.
    await eligibility.assessment("dlq-fine", status="eligible")
    letters = await eligibility.dead_letters(2)
    by_key = {m.key: m for m in letters}
    assert set(by_key) == {b"dlq-v2", b"dlq-bad"}

    v2 = by_key[b"dlq-v2"]
    assert header(v2.headers, "dlq_reason") == "unsupported_version"
    assert "v2 is newer than the v1" in header(v2.headers, "dlq_error")
    assert header(v2.headers, "ce_id") == future.id
    assert header(v2.headers, "dlq_topic") == eligibility.intake_topic

    bad = by_key[b"dlq-bad"]
    assert header(bad.headers, "dlq_reason") == "invalid_payload"
    assert "nationality" in header(bad.headers, "dlq_error")
    assert header(bad.headers, "ce_id") == invalid.id

    for case_id in ("dlq-v2", "dlq-bad"):
        assert (await eligibility.http.get(f"/assessments/{case_id}")).status_code == 404
