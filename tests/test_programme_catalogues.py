"""The programmes are one set across services: eligibility decides which programme a return
belongs to, and reintegration must know that programme by the same id to apply its limits."""

from __future__ import annotations

from avrr_eligibility.programmes import load_programmes
from avrr_reintegration.directory import load_directory
from avrr_reintegration.programmes import load_catalogue


def test_reintegration_knows_every_programme_by_the_id_eligibility_decides() -> None:
    decided = {p.id for p in load_programmes().programmes}
    limits = set(load_catalogue().programmes)
    assert limits == decided, (
        f"eligibility decides {sorted(decided)}, reintegration has limits for {sorted(limits)}"
    )


def test_the_service_directory_names_only_known_programmes() -> None:
    decided = {p.id for p in load_programmes().programmes}
    for organisation in load_directory().organisations:
        assert set(organisation.programmes) <= decided, organisation.id
