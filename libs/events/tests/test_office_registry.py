"""avrr_events.offices: one validated office registry for every service, and the hand-over
rule that follows from it (only an office of the destination country takes a case over)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_service import rest_service

from avrr_events.handover import handed_over_to
from avrr_events.offices import OfficeFileError, load_offices, parse_offices
from avrr_events.settings import ServiceSettings
from avrr_events.web.service import ServiceRuntime

# Every office id the tests, the walkthrough and the demo use.
USED = [
    "GT-GUA",
    "MX-TAP",
    "HN-TGU",
    "HN-SPS",
    "PT-LIS",
    "PA-PTY",
    "CR-SJO",
    "BR-BSB",
    "BR-GRU",
    "BR-POA",
]

ONE_OFFICE = """
version: "test-1"
offices:
  - {id: XY-ONE, country: HN, kind: receiving, name: Test office}
"""


def test_the_packaged_registry_is_valid_and_names_every_office_in_use() -> None:
    offices = load_offices()
    assert offices.version
    for office_id in USED:
        office = offices.get(office_id)
        assert office is not None, office_id
        assert office_id.startswith(office.country + "-"), office
    assert offices.receiving_office("HN-TGU", "HN") is not None
    assert offices.receiving_office("MX-TAP", "HN") is None  # an office, not in Honduras
    assert offices.receiving_office("GT-GUA", "GT") is not None  # a host receives its own
    assert offices.receiving_office("CH-GVA", "CH") is None  # headquarters receives no case


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("version: v\noffices:\n  - {id: A-1, country: XX, kind: host, name: n}", "country"),
        ("version: v\noffices:\n  - {id: A-1, country: hn, kind: host, name: n}", "country"),
        ("version: v\noffices:\n  - {id: A-1, country: HN, kind: embassy, name: n}", "kind"),
        ("version: v\noffices:\n  - {id: A-1, contry: HN, kind: host, name: n}", "contry"),
        ("version: v\noffices:\n  - {id: '*', country: HN, kind: host, name: n}", ".id"),
        ("version: v\noffices:\n  - {id: A-1, country: HN, kind: host}", ".name"),
        ("offices:\n  - {id: A-1, country: HN, kind: host, name: n}", "version"),
        ("version: v\noffices: []", "offices"),
    ],
)
def test_a_malformed_registry_is_refused_naming_the_field(text: str, named: str) -> None:
    with pytest.raises(OfficeFileError) as refused:
        parse_offices(text, name="offices.yaml")
    assert "offices.yaml" in str(refused.value) and named in str(refused.value)


def test_an_office_id_twice_not_yaml_or_no_file_is_refused(tmp_path: Path) -> None:
    twice = "version: v\noffices:\n" + "  - {id: A-1, country: HN, kind: host, name: n}\n" * 2
    with pytest.raises(OfficeFileError, match="'A-1' appears twice"):
        parse_offices(twice)
    with pytest.raises(OfficeFileError, match="not valid YAML"):
        parse_offices("version: [")
    with pytest.raises(OfficeFileError, match="mapping"):
        parse_offices("- just a list")
    with pytest.raises(OfficeFileError, match="cannot be read"):
        load_offices(tmp_path / "absent.yaml")


def test_a_deployment_points_every_service_at_its_own_registry(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "offices.yaml"
    own.write_text(ONE_OFFICE, encoding="utf-8")
    monkeypatch.setenv("AVRR_OFFICES", str(own))
    settings = ServiceSettings(database_url=sqlite_url, dev=True)
    assert settings.offices_file == own
    runtime = ServiceRuntime(rest_service("offices"), settings)
    assert runtime.offices.version == "test-1"
    assert runtime.offices.get("XY-ONE") is not None and runtime.offices.get("HN-TGU") is None

    # A malformed file stops the start, naming the field.
    bad = tmp_path / "bad.yaml"
    bad.write_text(ONE_OFFICE.replace("HN", "Honduras"), encoding="utf-8")
    with pytest.raises(OfficeFileError, match=r"offices\[0\]\(XY-ONE\)\.country"):
        ServiceRuntime(
            rest_service("offices"),
            ServiceSettings(database_url=sqlite_url, dev=True, offices_file=bad),
        )


def test_only_an_office_of_the_destination_country_is_handed_a_case() -> None:
    offices = load_offices()
    assert handed_over_to("receiving_office", "HN-TGU", "HN", offices) == "HN-TGU"
    # The attack: an office in Mexico confirming a Honduran arrival.
    assert handed_over_to("receiving_office", "MX-TAP", "HN", offices) is None
    assert handed_over_to("receiving_office", "HN-NOWHERE", "HN", offices) is None
    assert handed_over_to("receiving_office", None, "HN", offices) is None
    assert handed_over_to("partner", "HN-TGU", "HN", offices) is None
