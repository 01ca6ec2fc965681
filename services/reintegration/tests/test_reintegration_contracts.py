"""Contract checks between reintegration and its neighbours (docs/events.md).

What travel, eligibility and intake publish must be readable by
reintegration's observed models (their own classes are used when installed,
as they are in the monorepo's .venv), and what reintegration publishes must
carry the contract's fields.
"""

from __future__ import annotations

from reintegration_fixtures import ARRIVED, granted_case, plan, programme

from avrr_events.harness import as_published, neighbour_event
from avrr_reintegration import observed
from avrr_reintegration.events import registry
from avrr_reintegration.reintegration import CASE_EVENTS

AT = ARRIVED.isoformat()


def test_reintegration_reads_what_travel_publishes() -> None:
    arrival = neighbour_event("avrr_travel.movement", "ArrivalConfirmed")
    payload = as_published(
        arrival,
        {
            "case_id": "c",
            "programme_id": "arvore",
            "office": "PT-LIS",
            "destination_country": "BR",
            "destination_region": "MG",
            "arrived_at": AT,
            "confirmed_by": "partner",
            "languages": ["pt"],
        },
    )
    read = observed.ArrivalConfirmed.model_validate(payload)
    assert (read.programme_id, read.destination_region, read.arrived_at, read.languages) == (
        "arvore",
        "MG",
        ARRIVED,
        ["pt"],
    )
    # An arrival from before travel passed the household's languages on reads as none.
    older = {k: v for k, v in payload.items() if k != "languages"}
    assert observed.ArrivalConfirmed.model_validate(older).languages == []


def test_reintegration_reads_what_eligibility_publishes() -> None:
    assessed = neighbour_event("avrr_eligibility.assessment", "VulnerabilityAssessed")
    payload = as_published(
        assessed,
        {
            "case_id": "c",
            "person_id": "p-1",
            "categories": [{"category": "victim_of_trafficking", "severity": "high"}],
            "best_interests_determination_done": False,
            "assessed_by": "assessor",
            "assessed_at": AT,
        },
    )
    read = observed.VulnerabilityAssessed.model_validate(payload)
    assert [(c.category, c.severity) for c in read.categories] == [
        ("victim_of_trafficking", "high")
    ]


def test_reintegration_reads_what_intake_publishes() -> None:
    withdrawn = neighbour_event("avrr_intake.case", "CaseWithdrawn")
    erased = neighbour_event("avrr_intake.case", "PersonalDataErased")
    observed.CaseWithdrawn.model_validate(
        as_published(
            withdrawn,
            {"case_id": "c", "reason": "changed_mind", "withdrawn_at": AT, "withdrawn_by": "u"},
        )
    )
    read = observed.PersonalDataErased.model_validate(
        as_published(
            erased, {"case_id": "c", "person_ids": ["p-1"], "erased_at": AT, "erased_by": "u"}
        )
    )
    assert read.person_ids == ["p-1"]


def test_reintegration_reads_intakes_reopening() -> None:
    reopened = neighbour_event("avrr_intake.case", "CaseReopened")
    read = observed.CaseReopened.model_validate(
        as_published(
            reopened,
            {
                "case_id": "c",
                "previous_status": "withdrawn",
                "resumes_return": True,
                "reason": "person_returned",
                "recorded_by": "u",
                "reopened_at": AT,
            },
        )
    )
    assert read.case_id == "c"


CONTRACT_FIELDS = {
    "ReintegrationEligibilityDecided": {
        "case_id",
        "programme_id",
        "decision",
        "priority",
        "reason",
        "decided_at",
    },
    "ReintegrationPlanAgreed": {"case_id", "components", "agreed_at"},
    "AssistanceDisbursed": {
        "case_id",
        "programme_id",
        "kind",
        "amount",
        "currency",
        "method",
        "disbursed_on",
    },
    "ServiceReferralMade": {"case_id", "organisation_id", "service", "referred_on"},
    "MonitoringVisitRecorded": {"case_id", "due_month", "visited_on", "notes"},
    "SustainabilityScored": {
        "case_id",
        "stage",
        "economic",
        "social",
        "psychosocial",
        "composite",
        "sustainable",
        "scored_on",
    },
    "ReintegrationCompleted": {"case_id", "completed_on"},
}


def test_reintegration_publishes_the_contract_fields() -> None:
    schemas = registry.json_schemas()
    for cls in CASE_EVENTS:
        name = cls.event_type.rsplit(".", 1)[1]
        if name not in CONTRACT_FIELDS:
            continue  # internal (ReintegrationStopped)
        schema = schemas[f"urn:avrr:schema:{cls.event_type}:v1"]
        assert CONTRACT_FIELDS[name] <= set(schema["properties"]), name


def test_a_plan_component_has_kind_activity_and_a_budget() -> None:
    case = granted_case()
    case.agree_plan(plan(), ARRIVED, programme())
    data = case.pending[-1].model_dump(mode="json")
    assert data["components"][0] == {
        "kind": "economic",
        "activity": "micro-business: sewing workshop",
        "budget": {"amount": "400.00", "currency": "USD"},
    }
