"""The rules of a case, on the Case aggregate alone: no database, no Kafka, no HTTP.

A case is built the way the repository loads one (its history folded in, one
version per event); a decision records new events or refuses with
DomainRuleViolation (422) or NotFound (404), naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from avrr_events import DomainEvent, Encrypted
from avrr_events.web.http import DomainRuleViolation, NotFound
from avrr_intake.case import (
    Case,
    CaseClosed,
    CaseWithdrawn,
    HouseholdMember,
    PersonalDataErased,
    ReturnRequested,
    ReturnResumed,
    ReturnSuspended,
)
from avrr_intake.consent import ConsentGiven, ConsentWithdrawn, Purpose
from avrr_intake.counselling import CounsellingRecorded, Outcome
from avrr_intake.health import NeedsDeclared
from avrr_intake.referral import ReferralReceived, ReferredPerson

CASE = "case-1"
AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RETURN: Purpose = "return_assistance_processing"
MEDICAL: Purpose = "medical_data_processing"


def sealed(subject: str) -> Encrypted:
    return Encrypted(subject=subject, nonce="AAAAAAAAAAAAAAAA", ct="AAAA")


# Mother (adult) and her son (a child): the son's consent comes from his guardian.
MOTHER, SON = "p-mother", "p-son"
HOUSEHOLD = ((MOTHER, "principal", "female", 34), (SON, "child", "male", 9))


def members() -> list[dict[str, Any]]:
    """The household's non-personal facts, as the referral and the return request carry them."""
    return [
        {
            "person_id": person_id,
            "relationship": relationship,
            "sex": sex,
            "age_years": age,
            "unaccompanied_minor": False,
        }
        for person_id, relationship, sex, age in HOUSEHOLD
    ]


def referral() -> ReferralReceived:
    return ReferralReceived(
        case_id=CASE,
        source="ngo",
        contact_sharing_consented=False,
        office="PT-LIS",
        host_country="PT",
        nationality="BR",
        household=[ReferredPerson(**m, personal=sealed(m["person_id"])) for m in members()],
        received_by="caseworker-1",
        received_at=AT,
    )


def consent(person_id: str, purpose: Purpose = RETURN, **changes: Any) -> ConsentGiven:
    fields: dict[str, Any] = {
        "case_id": CASE,
        "person_id": person_id,
        "purpose": purpose,
        "given_on": date(2025, 3, 2),
        "given_by": "self" if person_id == MOTHER else "guardian",
        "representative_person_id": None if person_id == MOTHER else MOTHER,
        "language": "pt",
        "recorded_by": "caseworker-1",
        "recorded_at": AT,
    }
    return ConsentGiven(**(fields | changes))


def withdrawal(person_id: str | None, purpose: Purpose = RETURN) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        case_id=CASE,
        person_id=person_id,
        purpose=purpose,
        withdrawn_at=AT,
        recorded_by="caseworker-1",
        reason="changed_mind",
    )


def counselling(outcome: Outcome = "decided_to_apply") -> CounsellingRecorded:
    return CounsellingRecorded(
        case_id=CASE,
        session_id="s-1",
        held_on=date(2025, 3, 2),
        office="PT-LIS",
        counsellor="counsellor-1",
        language="pt",
        outcome=outcome,
        recorded_at=AT,
    )


def return_request() -> ReturnRequested:
    return ReturnRequested(
        case_id=CASE,
        office="PT-LIS",
        nationality="BR",
        host_country="PT",
        destination_country="BR",
        household=[HouseholdMember(**m) for m in members()],
        requested_at=AT,
    )


def case_withdrawal() -> CaseWithdrawn:
    return CaseWithdrawn(
        case_id=CASE, reason="staying_in_host_country", withdrawn_at=AT, withdrawn_by="cw-1"
    )


def closure() -> CaseClosed:
    return CaseClosed(case_id=CASE, reason="not_applying", closed_at=AT, closed_by="cw-1")


def erasure() -> PersonalDataErased:
    return PersonalDataErased(
        case_id=CASE, person_ids=[MOTHER, SON], erased_at=AT, erased_by="dpo-1"
    )


def needs(person_id: str) -> NeedsDeclared:
    return NeedsDeclared(
        case_id=CASE,
        person_id=person_id,
        declared_needs=sealed(person_id),
        declared_by="caseworker-1",
        declared_at=AT,
    )


def loaded(*history: DomainEvent) -> Case:
    """The case as the repository loads it: every event folded in, one version each."""
    case = Case(CASE)
    for event in history:
        case.when(event)
        case.version += 1
    return case


def requested_history() -> list[DomainEvent]:
    """A case whose return was requested: everyone consented to its processing."""
    return [referral(), consent(MOTHER), consent(SON), return_request()]


def requested() -> Case:
    return loaded(*requested_history())


def suspended(who: str | None = SON) -> Case:
    """A requested return suspended: ``who`` (None: everyone) withdrew the consent it needs."""
    case = requested()
    case.withdraw_consent(withdrawal(who))
    return loaded(*requested_history(), *case.pending)


def every_decision(case: Case) -> list[Callable[[], None]]:
    """Every decision of a case, each with what an open case with consents would accept."""
    return [
        lambda: case.record_counselling(counselling()),
        lambda: case.give_consent(consent(SON)),
        lambda: case.withdraw_consent(withdrawal(MOTHER)),
        lambda: case.declare_needs(needs(MOTHER)),
        lambda: case.request_return(return_request()),
        lambda: case.withdraw(case_withdrawal()),
        lambda: case.close(closure()),
        lambda: case.erase(erasure()),
    ]


def refusal(decision: Any, *args: Any) -> DomainRuleViolation:
    with pytest.raises(DomainRuleViolation) as refused:
        decision(*args)
    return refused.value


# ------------------------------------------------------------ the referral --


def test_a_referral_opens_the_case_with_its_household() -> None:
    case = loaded(referral())
    assert case.exists and case.status == "open" and case.version == 1
    assert set(case.people) == {MOTHER, SON}
    assert (case.office, case.nationality, case.host_country) == ("PT-LIS", "BR", "PT")


def test_a_case_without_its_referral_does_not_exist_for_any_decision() -> None:
    case = Case(CASE)
    assert not case.exists
    for decide in every_decision(case):
        with pytest.raises(NotFound):
            decide()
    assert case.pending == []


def test_a_decision_records_its_events_at_the_loaded_version() -> None:
    case = loaded(referral(), consent(MOTHER))
    case.record_counselling(counselling())
    # The repository appends the pending events at the version the case was loaded at.
    assert case.version == 2
    assert [type(e) for e in case.pending] == [CounsellingRecorded]


def test_a_refused_decision_records_nothing() -> None:
    case = loaded(referral())
    refusal(case.request_return, return_request())
    assert case.pending == [] and case.status == "open"


def test_a_person_outside_the_household_is_refused_by_name() -> None:
    case = loaded(referral())
    refused = refusal(case.must_know, "p-stranger")
    assert "p-stranger" in str(refused) and CASE in str(refused)
    assert case.must_know(SON).age_years == 9


# ----------------------------------------------------------------- consent --


def test_consent_is_kept_per_person_and_purpose() -> None:
    case = loaded(referral())
    case.give_consent(consent(MOTHER))
    case.give_consent(consent(MOTHER, "contact_by_programme"))
    case.give_consent(consent(SON))
    assert case.consents == {(MOTHER, RETURN), (MOTHER, "contact_by_programme"), (SON, RETURN)}
    assert [type(e) for e in case.pending] == [ConsentGiven] * 3


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"given_by": "self"}, "guardian or legal representative"),
        ({"representative_person_id": None}, "name the guardian"),
        ({"representative_person_id": "p-uncle"}, "p-uncle"),
    ],
    ids=[
        "a child does not consent for themself",
        "a guardian or representative who consents is named",
        "a guardian named from the household must be a member",
    ],
)
def test_a_child_s_consent_is_refused_naming_what_is_wrong(
    changes: dict[str, Any], named: str
) -> None:
    refused = refusal(loaded(referral()).give_consent, consent(SON, **changes))
    assert named in str(refused)


def test_a_guardian_outside_the_household_is_named_in_the_representative() -> None:
    # Encrypted, like every name.
    case = loaded(referral())
    case.give_consent(consent(SON, representative_person_id=None, representative=sealed(SON)))
    assert (SON, RETURN) in case.consents


def test_consent_of_someone_outside_the_household_is_refused() -> None:
    case = loaded(referral())
    refusal(case.give_consent, consent("p-stranger", given_by="self"))


def test_consent_cannot_be_given_once_the_case_has_ended() -> None:
    for ending in (case_withdrawal(), closure()):
        case = loaded(referral(), ending)
        refused = refusal(case.give_consent, consent(MOTHER))
        assert refused.extensions["case_status"] == case.status


# -------------------------------------------------------------- withdrawal --


def test_withdrawing_a_persons_consent_cancels_only_that_purpose_of_that_person() -> None:
    case = loaded(
        referral(), consent(MOTHER), consent(SON), consent(MOTHER, "contact_by_programme")
    )
    case.withdraw_consent(withdrawal(MOTHER))
    assert case.consents == {(SON, RETURN), (MOTHER, "contact_by_programme")}


def test_withdrawing_for_the_household_cancels_everyones_consent_to_that_purpose() -> None:
    case = loaded(referral(), consent(MOTHER), consent(SON), consent(MOTHER, MEDICAL))
    case.withdraw_consent(withdrawal(None))
    assert case.consents == {(MOTHER, MEDICAL)}


def test_only_a_consent_that_was_given_can_be_withdrawn() -> None:
    case = loaded(referral(), consent(MOTHER))
    refused = refusal(case.withdraw_consent, withdrawal(SON))
    assert refused.extensions == {"purpose": RETURN}
    refusal(case.withdraw_consent, withdrawal(None, "share_with_authorities"))
    refusal(case.withdraw_consent, withdrawal("p-stranger"))


@pytest.mark.parametrize("ending", ["withdrawn", "closed"])
def test_consent_can_be_withdrawn_whatever_the_case_status(ending: str) -> None:
    end = case_withdrawal() if ending == "withdrawn" else closure()
    case = loaded(referral(), consent(MOTHER), end)
    case.withdraw_consent(withdrawal(MOTHER))
    assert case.status == ending and case.consents == set()
    assert [type(e) for e in case.pending] == [ConsentWithdrawn]


def test_no_consent_is_withdrawn_once_the_personal_data_is_erased() -> None:
    case = loaded(referral(), consent(MOTHER), erasure())
    refused = refusal(case.withdraw_consent, withdrawal(MOTHER))
    assert "erased" in str(refused)


# ---------------------------------------------------------- return request --


def test_return_is_requested_once_everyone_consented_to_its_processing() -> None:
    case = loaded(referral(), consent(MOTHER), consent(SON))
    assert case.missing_consents() == {}
    case.request_return(return_request())
    assert case.status == "return_requested"
    assert [type(e) for e in case.pending] == [ReturnRequested]


def test_return_without_everyones_consent_is_refused_naming_who_is_missing() -> None:
    case = loaded(referral(), consent(MOTHER))
    assert case.missing_consents() == {RETURN: [SON]}
    refused = refusal(case.request_return, return_request())
    assert refused.extensions == {"missing_consents": [RETURN], "persons": {RETURN: [SON]}}
    assert SON in str(refused)


def test_return_is_requested_only_once() -> None:
    case = requested()
    refused = refusal(case.request_return, return_request())
    assert "already requested" in str(refused)


def test_withdrawing_a_consent_the_return_needs_suspends_the_return() -> None:
    case = requested()
    case.withdraw_consent(withdrawal(SON))
    assert case.status == "suspended_by_consent"
    withdrawn, suspension = case.pending
    assert isinstance(withdrawn, ConsentWithdrawn)
    assert isinstance(suspension, ReturnSuspended)
    assert suspension.missing_consents == {RETURN: [SON]}


def test_withdrawing_a_consent_the_return_does_not_need_leaves_it_requested() -> None:
    case = loaded(
        referral(), consent(MOTHER), consent(SON), consent(MOTHER, "contact_by_programme")
    )
    case.request_return(return_request())
    case.withdraw_consent(withdrawal(MOTHER, "contact_by_programme"))
    assert case.status == "return_requested"
    assert [type(e) for e in case.pending] == [ReturnRequested, ConsentWithdrawn]


def test_a_suspended_return_is_not_requested_again_but_resumes_with_the_consent() -> None:
    case = suspended()
    refused = refusal(case.request_return, return_request())
    assert refused.extensions == {"missing_consents": [RETURN]}
    case.give_consent(consent(SON))
    assert case.status == "return_requested"
    given, resumed = case.pending
    assert isinstance(given, ConsentGiven) and isinstance(resumed, ReturnResumed)
    assert resumed.recorded_by == "caseworker-1"


def test_a_suspended_return_waits_until_every_missing_consent_is_given() -> None:
    case = suspended(None)  # the whole household withdrew
    case.give_consent(consent(MOTHER))
    assert case.status == "suspended_by_consent"
    assert [type(e) for e in case.pending] == [ConsentGiven]


# ------------------------------------------------------------- counselling --


def test_counselling_is_recorded_on_an_active_case() -> None:
    case = loaded(referral())
    case.record_counselling(counselling("continue_counselling"))
    assert case.status == "open"
    assert [type(e) for e in case.pending] == [CounsellingRecorded]


def test_deciding_not_to_apply_closes_the_case() -> None:
    case = loaded(referral())
    case.record_counselling(counselling("decided_not_to_apply"))
    assert case.status == "closed"
    session, closed = case.pending
    assert isinstance(session, CounsellingRecorded) and isinstance(closed, CaseClosed)
    assert closed.reason == "decided_not_to_apply" and closed.closed_at == session.recorded_at


def test_no_counselling_after_the_case_ended() -> None:
    case = loaded(referral(), case_withdrawal())
    refused = refusal(case.record_counselling, counselling())
    assert "only erasure is still possible" in str(refused)
    assert refused.extensions == {"case_status": "withdrawn"}


# ---------------------------------------------------------- declared needs --


def test_needs_are_declared_only_after_the_persons_medical_consent() -> None:
    case = loaded(referral())
    refused = refusal(case.declare_needs, needs(MOTHER))
    assert refused.extensions == {"field": "declared_needs", "missing_consents": [MEDICAL]}
    case = loaded(referral(), consent(MOTHER, MEDICAL))
    case.declare_needs(needs(MOTHER))
    assert [type(e) for e in case.pending] == [NeedsDeclared]
    # Another member's consent does not cover the son.
    refusal(case.declare_needs, needs(SON))


def test_a_withdrawn_medical_consent_no_longer_allows_declaring_needs() -> None:
    case = loaded(referral(), consent(MOTHER, MEDICAL), withdrawal(MOTHER, MEDICAL))
    refusal(case.must_have_medical_consent, MOTHER)


def test_needs_of_someone_outside_the_household_are_refused() -> None:
    case = loaded(referral(), consent(MOTHER, MEDICAL))
    refusal(case.declare_needs, needs("p-stranger"))


# ------------------------------------------------------ withdrawal, closure --


@pytest.mark.parametrize("status", ["open", "return_requested", "suspended_by_consent"])
def test_the_case_can_be_withdrawn_while_active(status: str) -> None:
    case = {
        "open": lambda: loaded(referral()),
        "return_requested": requested,
        "suspended_by_consent": suspended,
    }[status]()
    assert case.status == status
    case.withdraw(case_withdrawal())
    assert case.status == "withdrawn" and [type(e) for e in case.pending] == [CaseWithdrawn]


def test_a_withdrawn_case_is_not_withdrawn_again_nor_closed() -> None:
    case = loaded(referral(), case_withdrawal())
    assert refusal(case.withdraw, case_withdrawal()).extensions == {"case_status": "withdrawn"}
    assert refusal(case.close, closure()).extensions == {"case_status": "withdrawn"}


@pytest.mark.parametrize("status", ["open", "suspended_by_consent"])
def test_a_case_nothing_runs_for_elsewhere_can_be_closed(status: str) -> None:
    case = loaded(referral()) if status == "open" else suspended()
    case.close(closure())
    assert case.status == "closed" and [type(e) for e in case.pending] == [CaseClosed]


def test_a_case_whose_return_is_requested_is_withdrawn_not_closed() -> None:
    case = requested()
    refused = refusal(case.close, closure())
    assert refused.extensions == {"case_status": "return_requested"}
    assert "withdraws it instead" in str(refused)


def test_a_closed_case_allows_nothing_but_erasure_and_consent_withdrawal() -> None:
    case = loaded(referral(), consent(MOTHER), consent(SON), closure())
    refusal(case.close, closure())
    refusal(case.request_return, return_request())
    refusal(case.withdraw, case_withdrawal())
    case.erase(erasure())
    assert case.erased and case.status == "closed"


# ----------------------------------------------------------------- erasure --


@pytest.mark.parametrize("ending", [None, "withdrawn", "closed"])
def test_personal_data_can_be_erased_whatever_the_status(ending: str | None) -> None:
    history: list[DomainEvent] = [referral()]
    if ending == "withdrawn":
        history.append(case_withdrawal())
    elif ending == "closed":
        history.append(closure())
    case = loaded(*history)
    case.erase(erasure())
    assert case.erased and [type(e) for e in case.pending] == [PersonalDataErased]


def test_personal_data_is_erased_only_once() -> None:
    case = loaded(referral(), erasure())
    assert "already erased" in str(refusal(case.erase, erasure()))


def test_after_erasure_nothing_changes_any_more() -> None:
    case = loaded(referral(), consent(MOTHER), consent(MOTHER, MEDICAL), erasure())
    for decide in every_decision(case):
        assert "erased" in str(refusal(decide))
    assert case.pending == []
