"""The three seed programmes decide requests, with reasons a caseworker can read out."""

from __future__ import annotations

from pathlib import Path

import pytest
from eligibility_fixtures import CATALOGUE, request

from avrr_eligibility.programmes import (
    ProgrammeFileError,
    RuleOutcome,
    decide,
    load_programmes,
    parse_programmes,
)

SEED_FILE = Path(__file__).resolve().parents[1] / "avrr_eligibility" / "programmes.yaml"


def failed(reasons: list[RuleOutcome]) -> list[str]:
    return [r.detail for r in reasons if not r.passed]


# ---------------------------------------------------------- the seed file --


def test_seed_file_is_versioned_and_ships_the_three_programmes() -> None:
    assert CATALOGUE.version == "2026.1"
    assert [p.id for p in CATALOGUE.programmes] == [
        "mesoamerica-avr",
        "arvore",
        "americas-regional-avr",
    ]
    regional = CATALOGUE.get("americas-regional-avr")
    assert regional is not None and len(regional.host_countries) == 11
    meso = CATALOGUE.get("mesoamerica-avr")
    assert meso is not None
    assert (meso.transport.mode, meso.transport.to) == ("land", "capital")
    arvore = CATALOGUE.get("arvore")
    assert arvore is not None and arvore.transport.to == "airport_nearest_city_of_return"
    assert arvore.limits.reintegration is not None
    assert arvore.limits.reintegration.places == 150
    assert arvore.limits.reintegration.allocation == "by_vulnerability"


# ------------------------------------------------------ eligible requests --


@pytest.mark.parametrize(
    ("nationality", "host", "programme_id", "explained"),
    [
        pytest.param(
            "HN",
            "MX",
            "mesoamerica-avr",
            {
                "mesoamerica-avr/nationality": "Mesoamerica AVR is for nationals of El Salvador, "
                "Guatemala or Honduras; the person is a national of Honduras.",
                "mesoamerica-avr/destination": "Mesoamerica AVR can return the person to "
                "Honduras by land transport to the capital.",
            },
            id="mesoamerica-honduran-stranded-in-mexico",
        ),
        pytest.param(
            "BR",
            "PT",
            "arvore",
            {
                "arvore/nationality": "ARVoRe is for nationals of countries outside the "
                "European Union; Brazil is outside the EU.",
                "arvore/destination": "ARVoRe can return the person to Brazil by air to the "
                "airport nearest the city of return.",
            },
            id="arvore-brazilian-in-portugal-by-air",
        ),
        pytest.param(
            "CO",
            "PA",
            "americas-regional-avr",
            {
                "americas-regional-avr/nationality": "Regional AVR Americas is open to "
                "nationals of Colombia.",
            },
            id="regional-avr-colombian-stranded-in-panama",
        ),
    ],
)
def test_an_eligible_request_names_its_programme_and_explains_the_rules(
    nationality: str, host: str, programme_id: str, explained: dict[str, str]
) -> None:
    decision = decide(CATALOGUE, request(nationality, host))
    assert decision.eligible and all(r.passed for r in decision.reasons)
    assert decision.programme is not None and decision.programme.id == programme_id
    details = {r.rule: r.detail for r in decision.reasons}
    assert {rule: details[rule] for rule in explained} == explained


# ------------------------------------------------------------ Mesoamerica --


def test_mesoamerica_salvadoran_stranded_in_guatemala_is_eligible() -> None:
    decision = decide(CATALOGUE, request("SV", "GT"))
    assert decision.eligible and decision.programme is not None
    assert decision.programme.id == "mesoamerica-avr"


def test_mesoamerica_nicaraguan_is_not_a_covered_nationality() -> None:
    decision = decide(CATALOGUE, request("NI", "GT", programme_hint="mesoamerica-avr"))
    assert not decision.eligible
    assert decision.programme is not None and decision.programme.id == "mesoamerica-avr"
    assert failed(decision.reasons) == [
        "Mesoamerica AVR is only for nationals of El Salvador, Guatemala or Honduras, "
        "and the person is a national of Nicaragua.",
        "Mesoamerica AVR only returns people to El Salvador, Guatemala or Honduras, "
        "and the requested destination is Nicaragua.",
    ]


def test_mesoamerica_does_not_assist_people_stranded_in_the_united_states() -> None:
    decision = decide(CATALOGUE, request("HN", "US", programme_hint="mesoamerica-avr"))
    assert not decision.eligible
    assert failed(decision.reasons) == [
        "Mesoamerica AVR only assists people who are in Guatemala or Mexico, "
        "and the person is in United States."
    ]


def test_a_guatemalan_in_guatemala_is_not_a_migrant_there() -> None:
    decision = decide(CATALOGUE, request("GT", "GT", "GT", programme_hint="mesoamerica-avr"))
    assert not decision.eligible
    assert (
        "The person is a national of Guatemala, the country they are in: assisted voluntary "
        "return is for migrants outside their own country." in failed(decision.reasons)
    )


# ----------------------------------------------------------------- ARVoRe --


def test_arvore_refuses_eu_nationals() -> None:
    decision = decide(CATALOGUE, request("ES", "PT"))
    assert not decision.eligible
    assert decision.programme is not None and decision.programme.id == "arvore"
    assert failed(decision.reasons) == [
        "ARVoRe is only for nationals of countries outside the European Union, "
        "and Spain is an EU member state."
    ]
    assert [r.rule for r in decision.reasons if not r.passed] == ["arvore/nationality"]


# ---------------------------------------------------------- Regional AVR --


def test_regional_avr_takes_a_honduran_in_mexico_home_to_a_third_country_destination() -> None:
    # Mesoamerica only returns to HN/SV/GT: the next programme in the file takes over.
    decision = decide(CATALOGUE, request("HN", "MX", "CR"))
    assert decision.eligible and decision.programme is not None
    assert decision.programme.id == "americas-regional-avr"


def test_regional_avr_does_not_operate_in_argentina() -> None:
    decision = decide(CATALOGUE, request("VE", "AR"))
    assert not decision.eligible and decision.programme is None
    assert [r.rule for r in decision.reasons] == ["host_country"]
    assert decision.reasons[0].detail.startswith(
        "No return programme assists people in Argentina at the moment; programmes operate in "
        "Belize, Costa Rica,"
    )


def test_regional_avr_destination_cannot_be_the_host_country() -> None:
    decision = decide(CATALOGUE, request("CO", "PA", "PA", programme_hint="americas-regional-avr"))
    assert not decision.eligible
    assert failed(decision.reasons) == [
        "The destination, Panama, is the country the person is already in."
    ]


def test_when_several_local_programmes_fail_every_reason_is_given() -> None:
    # In Guatemala both Mesoamerica and the regional programme operate.
    decision = decide(CATALOGUE, request("NI", "GT", "GT"))
    assert not decision.eligible and decision.programme is None
    rules = {r.rule for r in decision.reasons if not r.passed}
    assert rules == {
        "mesoamerica-avr/nationality",
        "mesoamerica-avr/destination",
        "americas-regional-avr/destination",
    }


def test_household_size_limit_is_a_rule() -> None:
    decision = decide(CATALOGUE, request("HN", "MX", household_size=13))
    meso = [r for r in decision.reasons if r.rule == "mesoamerica-avr/household_size"]
    # Mesoamerica refuses, the regional programme (no such limit) takes the family.
    assert decision.programme is not None and decision.programme.id == "americas-regional-avr"
    assert meso == []


def test_hinted_household_over_the_limit_is_refused_with_the_number() -> None:
    decision = decide(
        CATALOGUE, request("HN", "MX", household_size=13, programme_hint="mesoamerica-avr")
    )
    assert failed(decision.reasons) == [
        "Mesoamerica AVR assists households of up to 12 people; this household has 13."
    ]


# ------------------------------------------------------- malformed files --


def _broken(old: str, new: str) -> str:
    text = SEED_FILE.read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "host_countries: [PT]",
            "host_countries: [XX]",
            "programmes[1](arvore).host_countries[0]: Value error, 'XX' is not an ISO 3166-1 "
            "alpha-2 country code",
        ),
        (
            "    transport:\n      mode: land\n",
            "    transport:\n      mode: boat\n",
            "programmes[0](mesoamerica-avr).transport.mode: Input should be 'air' or 'land'",
        ),
        (
            "    host_countries: [MX, GT]\n",
            "    host_contries: [MX, GT]\n",
            "programmes[0](mesoamerica-avr).host_countries: Field required",
        ),
        (
            "      rule: non_eu\n",
            "      rule: non_schengen\n",
            "programmes[1](arvore).eligible_nationalities: Input tag 'non_schengen'",
        ),
        ('version: "2026.1"\n', "", "version: Field required"),
        (
            "        places: 150\n",
            "        places: -1\n",
            "programmes[1](arvore).limits.reintegration.places: Input should be greater than "
            "or equal to 0",
        ),
        (
            "  - id: arvore\n",
            "  - id: mesoamerica-avr\n",
            "programme id 'mesoamerica-avr' appears twice",
        ),
    ],
)
def test_malformed_programme_file_is_refused_naming_the_field(
    old: str, new: str, expected: str
) -> None:
    with pytest.raises(ProgrammeFileError) as caught:
        parse_programmes(_broken(old, new), name="programmes.yaml")
    assert "programme file programmes.yaml is invalid: " in str(caught.value)
    assert expected in str(caught.value)


def test_unreadable_and_non_yaml_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ProgrammeFileError, match="cannot be read"):
        load_programmes(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("programmes: [\n")
    with pytest.raises(ProgrammeFileError, match="not valid YAML"):
        load_programmes(bad)
